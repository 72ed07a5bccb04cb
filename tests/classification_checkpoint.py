"""A tiny binary-classification setting for the selection and influence tests: Lipophilicity molecules labelled
exp >= 2.5 (about 40% positive), a split, a labelled pool, and a tiny fine-tuned checkpoint marked as a
classification one (finetune.json "task": "classification", no label scaling)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

THRESHOLD = 2.5


def binary_split_and_pool(directory: Path, n_train: int = 120, n_valid: int = 20, n_test: int = 20,
                          n_pool: int = 40) -> tuple[Path, Path]:
    """split.parquet (train/valid/test) and pool.parquet of 0/1-labelled molecules in `directory`."""
    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table

    n_split = n_train + n_valid + n_test
    raw = read_table(resolve_source("lipophilicity").path).head(n_split + n_pool + 20)
    table = build_molecule_table(raw, source="lipophilicity").molecules.head(n_split + n_pool)
    table = table.with_columns((pl.col("label") >= THRESHOLD).cast(pl.Float64).alias("label"))
    split = table.head(n_split).with_columns(
        pl.Series("split", ["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test),
        pl.lit("").alias("scaffold"))
    split.write_parquet(directory / "split.parquet")
    table.tail(n_pool).with_columns(pl.lit("pool").alias("source")).write_parquet(directory / "pool.parquet")
    return directory / "split.parquet", directory / "pool.parquet"


def mark_classification(checkpoint: Path) -> Path:
    """Make a fine-tuned checkpoint's finetune.json say classification with no label scaling (what `finetune`
    writes for 0/1 labels); the weights stay as they were trained."""
    meta_path = checkpoint / "finetune.json"
    meta = json.loads(meta_path.read_text())
    meta.update(task="classification", label_scaling={"mean": 0.0, "std": 1.0})
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return checkpoint


def classification_checkpoint(tiny_base: Path, split: Path, out: Path, peft: str = "bitfit",
                              epochs: int = 2) -> Path:
    """Fine-tune the tiny model on the 0/1 split through the CLI, then mark the checkpoint as classification."""
    import torch
    from typer.testing import CliRunner

    from tests.conftest import invoke

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = invoke(CliRunner(), ["finetune", str(split), "--model", str(tiny_base), "--peft", peft,
                                      "--max-epochs", str(epochs), "-o", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return mark_classification(out)
