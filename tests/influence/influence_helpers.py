"""Tiny float64 models, losses and data for the influence tests (plain code; fixtures are in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def mse_loss(forward, batch):
    x, y = batch
    return ((forward(x).squeeze(-1) - y) ** 2).mean()


def row_batches(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


@dataclass
class MlpProblem:
    model: nn.Module
    train: tuple[torch.Tensor, torch.Tensor]
    valid: tuple[torch.Tensor, torch.Tensor]
    pool: tuple[torch.Tensor, torch.Tensor]


class TokenRegressor(nn.Module):
    """Dict-input model like a tiny language model: embedding, masked mean pooling, dropout, linear head."""

    def __init__(self, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.dropout = nn.Dropout(0.5)
        self.head = nn.Linear(dim, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(self.embed.weight.dtype)
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        return self.head(self.dropout(pooled)).squeeze(-1)


def token_loss(forward, batch):
    pred = forward(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return ((pred - batch["labels"]) ** 2).mean()
