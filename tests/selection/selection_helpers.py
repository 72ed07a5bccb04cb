"""Pools of real molecules (the bundled Lipophilicity set) and a tiny dropout model for selection tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

import molpeft_cli

ASSET = Path(molpeft_cli.__file__).parent / "assets" / "lipophilicity.csv"


def lipophilicity_pool(n: int, offset: int = 0) -> pl.DataFrame:
    table = pl.read_csv(ASSET).slice(offset, n)
    return pl.DataFrame(
        {
            "mol_id": table["CMPD_CHEMBLID"],
            "smiles_canonical": table["smiles"],
            "label": table["exp"].cast(pl.Float64),
        }
    )


def with_scores(pool: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pool.with_columns(pl.Series("score", rng.normal(size=pool.height)))


class DropoutRegressor(nn.Module):
    def __init__(self, p: float = 0.3, batch_norm: bool = False) -> None:
        super().__init__()
        self.hidden = nn.Linear(4, 16)
        self.norm = nn.BatchNorm1d(16) if batch_norm else nn.Identity()
        self.dropout = nn.Dropout(p)
        self.out = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.relu(self.norm(self.hidden(x))))).squeeze(-1)


def predict(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return model(batch)


def features(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))


def feature_batches(x: torch.Tensor, size: int = 16) -> list[torch.Tensor]:
    return [x[i : i + size] for i in range(0, len(x), size)]
