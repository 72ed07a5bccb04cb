"""Shared fixtures of the selection tests: tiny fine-tuned checkpoints of both tasks."""

from __future__ import annotations

import polars as pl
import pytest

from tests.classification_checkpoint import THRESHOLD, classification_checkpoint
from tests.conftest import invoke


@pytest.fixture(scope="session")
def setups(tiny_base, tmp_path_factory):
    """{task: (split path, pool path, checkpoint)}: 60 train / 15 valid / 10 test molecules and a 20-molecule pool
    of Lipophilicity, and the tiny model fine-tuned one epoch with BitFit on them (classification: exp >= 2.5)."""
    import torch
    from typer.testing import CliRunner

    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table

    raw = read_table(resolve_source("lipophilicity").path).head(110)
    table = build_molecule_table(raw, source="lipophilicity").molecules.head(105)
    out = {}
    for task in ("regression", "classification"):
        d = tmp_path_factory.mktemp(task)
        labelled = table if task == "regression" else table.with_columns(
            (pl.col("label") >= THRESHOLD).cast(pl.Float64).alias("label"))
        split = labelled.head(85).with_columns(pl.Series("split", ["train"] * 60 + ["valid"] * 15 + ["test"] * 10),
                                               pl.lit("").alias("scaffold"))
        split.write_parquet(d / "split.parquet")
        labelled.tail(20).with_columns(pl.lit("pool").alias("source")).write_parquet(d / "pool.parquet")
        if task == "classification":
            ck = classification_checkpoint(tiny_base, d / "split.parquet", d / "ck", epochs=1)
        else:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            result = invoke(CliRunner(), ["finetune", str(d / "split.parquet"), "--model", str(tiny_base),
                                          "--peft", "bitfit", "--max-epochs", "1", "-o", str(d / "ck")])
            torch.set_num_threads(threads)
            assert result.exit_code == 0, result.output
            ck = d / "ck"
        out[task] = (d / "split.parquet", d / "pool.parquet", ck)
    return out
