"""Fixtures for the influence tests: one torch thread, a fitted tiny MLP, a dict-input token batch."""

from __future__ import annotations

import pytest
import torch
from influence_helpers import MlpProblem, mse_loss
from torch import nn


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here runs single-threaded (the shared fixture in tests/conftest.py)."""
    yield


@pytest.fixture(scope="session")
def mlp_problem() -> MlpProblem:
    """8 -> 16 -> 1 tanh MLP (161 parameters) fitted by L-BFGS on a smooth target, so H is nearly PSD."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(8, generator=gen, dtype=torch.float64) / 2

    def data(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 8, generator=gen, dtype=torch.float64)
        return x, torch.tanh(x @ w) + noise * torch.randn(n, generator=gen, dtype=torch.float64)

    train, valid, pool = data(256, 0.1), data(64, 0.0), data(100, 0.3)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = mse_loss(model, train)
        loss.backward()
        return loss

    opt.step(closure)
    torch.set_num_threads(threads)
    return MlpProblem(model, train, valid, pool)


@pytest.fixture
def token_batch() -> dict:
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 11, (5, 7), generator=gen)
    mask = torch.ones(5, 7, dtype=torch.long)
    mask[1, 4:] = 0
    mask[3, 2:] = 0
    ids = ids * mask
    labels = torch.randn(5, generator=gen, dtype=torch.float64)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "mol_id": [f"m{i}" for i in range(5)]}


@pytest.fixture(scope="session")
def tiny_finetuned(tiny_base, tmp_path_factory):
    """The tiny MoLFormer fine-tuned two epochs with BitFit on 120 Lipophilicity molecules (20 valid, 20 test),
    and a 40-molecule labelled pool from the same file: (directory, split path, pool path, checkpoint)."""
    import polars as pl

    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table
    from tests.conftest import invoke

    raw = read_table(resolve_source("lipophilicity").path).head(200)
    table = build_molecule_table(raw, source="lipophilicity").molecules
    directory = tmp_path_factory.mktemp("tiny-ft")
    split = table.head(160).with_columns(pl.Series("split", ["train"] * 120 + ["valid"] * 20 + ["test"] * 20),
                                         pl.lit("").alias("scaffold"))
    split.write_parquet(directory / "split.parquet")
    table.tail(40).with_columns(pl.lit("pool").alias("source")).write_parquet(directory / "pool.parquet")
    from typer.testing import CliRunner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    result = invoke(CliRunner(), ["finetune", str(directory / "split.parquet"), "--model", str(tiny_base),
                                  "--peft", "bitfit", "--max-epochs", "2", "-o", str(directory / "ck")])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return directory, directory / "split.parquet", directory / "pool.parquet", directory / "ck"
