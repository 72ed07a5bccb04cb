"""The bad-input corpus' world: small tables, a SMILES file, a pool and a tiny fine-tuned checkpoint, built once.

Every case runs against this world and must leave it byte-identical (see test_corpus.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

N_TRAIN, N_VALID, N_TEST, N_POOL = 24, 8, 8, 8


@dataclass(frozen=True)
class World:
    root: Path
    base: Path  # tiny MLM checkpoint (tests/conftest.py)
    raw_csv: Path  # a raw CSV (id,smiles,exp)
    molecules: Path  # contract molecule table, no split
    split: Path  # contract split table
    split_csv: Path  # a plain smiles,label,split CSV
    pool: Path  # labelled contract pool table
    smi: Path  # one SMILES per line
    checkpoint: Path  # tiny full fine-tuned checkpoint

    def split_frame(self) -> pl.DataFrame:
        return pl.read_parquet(self.split)


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield


@pytest.fixture(scope="session")
def world(tmp_path_factory, tiny_base) -> World:
    import torch
    from typer.testing import CliRunner

    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table
    from tests.conftest import SMALL_CSV, invoke

    root = tmp_path_factory.mktemp("world")
    raw = read_table(resolve_source("lipophilicity").path).head(N_TRAIN + N_VALID + N_TEST + N_POOL)
    table = build_molecule_table(raw, source="lipophilicity").molecules
    main, pool = table.head(N_TRAIN + N_VALID + N_TEST), table.tail(N_POOL)
    split = main.with_columns(pl.Series("split", ["train"] * N_TRAIN + ["valid"] * N_VALID + ["test"] * N_TEST),
                              pl.lit("").alias("scaffold"))
    paths = {"raw_csv": root / "raw.csv", "molecules": root / "molecules.parquet", "split": root / "split.parquet",
             "split_csv": root / "split.csv", "pool": root / "pool.parquet", "smi": root / "e.smi"}
    paths["raw_csv"].write_text(SMALL_CSV)
    main.write_parquet(paths["molecules"])
    split.write_parquet(paths["split"])
    split.select("smiles", "label", "split").write_csv(paths["split_csv"])
    pool.write_parquet(paths["pool"])
    paths["smi"].write_text("CCO\nc1ccccc1O\n")
    checkpoint = root / "ck"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = invoke(CliRunner(), ["finetune", str(paths["split"]), "--model", str(tiny_base), "--max-epochs",
                                      "1", "--batch-size", "16", "-o", str(checkpoint)])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return World(root=root, base=tiny_base, checkpoint=checkpoint, **paths)
