"""Data-parallel fine-tuning: the sharding arithmetic, and 2 gloo processes under torchrun against one process.

Tolerance: with dropout off, the 2-process loss curve equals the 1-process one up to float32 summation order
(the gradient all-reduce and the split of each batch): observed relative differences ~1e-8; asserted 1e-6.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from tests.conftest import run_one_and_two_processes

NO_DROPOUT = ["--hidden-dropout", "0", "--embedding-dropout", "0", "--classifier-dropout", "0"]
RTOL = 1e-6


@pytest.mark.parametrize("n_rows", [1, 5, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_rank_losses_average_to_the_global_mean(n_rows, world):
    from molpeft_cli.training.distributed import DistContext

    per_row = torch.rand(n_rows, dtype=torch.float64)
    seen, losses = [], []
    for rank in range(world):
        context = DistContext(rank=rank, world_size=world)
        shard = context.shard(n_rows)
        seen += shard.rows[shard.weights > 0].tolist()
        losses.append(context.rank_loss(per_row[shard.rows], shard))
    assert sorted(seen) == list(range(n_rows))  # every row on exactly one rank
    # DDP averages gradients over ranks: the average of the rank losses must be the single-process mean
    assert torch.allclose(torch.stack(losses).mean(), per_row.mean(), rtol=1e-12, atol=0)


def test_single_process_context_is_the_plain_model():
    from molpeft_cli.training.distributed import DistContext, launch_context

    model = torch.nn.Linear(2, 1)
    assert DistContext().wrap(model) is model
    assert launch_context("cpu").world_size == 1 and DistContext().rank_seed(7) == 7


def test_two_gloo_processes_match_one_process(runner, tmp_path, tiny_base, lipo_split_small):
    args = ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "full", "--seed", "0",
            "--max-epochs", "3", "--patience", "3", "--batch-size", "16", *NO_DROPOUT]
    run_one_and_two_processes(runner, args, tmp_path)

    one = pl.read_parquet(tmp_path / "one" / "training_log.parquet")
    two = pl.read_parquet(tmp_path / "two" / "training_log.parquet")
    assert one.height == two.height == 3
    for column in ("train_loss", "valid_mse", "valid_mae"):
        np.testing.assert_allclose(two[column].to_numpy(), one[column].to_numpy(), rtol=RTOL, err_msg=column)
    assert one["train_loss"][0] != one["train_loss"][-1]  # it trained
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["distributed"] == {"world_size": 2, "backend": "gloo", "device": "cpu"}
    assert json.loads((tmp_path / "one" / "manifest.json").read_text())["distributed"]["world_size"] == 1
    # only rank 0 wrote: one output directory and no stray temporary directories beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
