"""Fixtures for fine-tuning tests: a ~120-molecule split table (the tiny base model is in tests/conftest.py)."""

from __future__ import annotations

import polars as pl
import pytest

N_TRAIN, N_VALID, N_TEST = 80, 20, 20


@pytest.fixture(scope="session")
def lipo_split_small(tmp_path_factory):
    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table

    raw = read_table(resolve_source("lipophilicity").path).head(N_TRAIN + N_VALID + N_TEST)
    table = build_molecule_table(raw, source="lipophilicity").molecules
    split = ["train"] * N_TRAIN + ["valid"] * N_VALID + ["test"] * N_TEST
    table = table.with_columns(pl.Series("split", split), pl.lit("").alias("scaffold"))
    path = tmp_path_factory.mktemp("data") / "split.parquet"
    table.write_parquet(path)
    return path
