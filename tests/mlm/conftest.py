"""Fixtures for the MLM tests: ~100 Lipophilicity SMILES as a plain file, and single-threaded torch."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

LIPO_CSV = Path(__file__).resolve().parents[2] / "molpeft_cli" / "assets" / "lipophilicity.csv"


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here runs single-threaded (the shared fixture in tests/conftest.py)."""
    yield


@pytest.fixture(scope="session")
def corpus_smiles() -> list[str]:
    return pl.read_csv(LIPO_CSV)["smiles"].to_list()[:100]


@pytest.fixture(scope="session")
def smiles_file(tmp_path_factory, corpus_smiles) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.smi"
    path.write_text("\n".join(corpus_smiles) + "\n")
    return path
