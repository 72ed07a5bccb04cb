"""Shared fixtures for the MoLFormer tests: a tiny model and tokenizer, Lipophilicity SMILES, and the writer
of synthetic checkpoints in the published key layout (from `reference_layout.py`)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch

import molpeft_cli.model as molformer
from tests.model.reference_layout import write_reference_checkpoint

LIPO_CSV = Path(__file__).resolve().parents[2] / "molpeft_cli" / "assets" / "lipophilicity.csv"
SMALL_CORPUS = ["CCO", "c1ccccc1Cl", "CC(=O)N[C@@H](C)Br", "O=C(O)c1ccncc1", "C#N", "FC(F)(F)S(=O)(=O)N"]


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Every test here runs single-threaded (the shared fixture in tests/conftest.py)."""
    yield


@pytest.fixture
def write_checkpoint():
    """The writer: write_checkpoint(directory, fields, heads=..., prefix=..., weights=...)."""
    return write_reference_checkpoint


@pytest.fixture(scope="session")
def lipo_smiles() -> list[str]:
    return pl.read_csv(LIPO_CSV)["smiles"].to_list()


@pytest.fixture(scope="session")
def tiny_tokenizer() -> molformer.MolformerTokenizer:
    return molformer.MolformerTokenizer(vocab=molformer.build_vocab(SMALL_CORPUS))


@pytest.fixture
def tiny_config(tiny_tokenizer) -> molformer.MolformerConfig:
    return molformer.named_config(
        "tiny", vocab_size=len(tiny_tokenizer.vocab), hidden_dropout_prob=0.0, embedding_dropout_prob=0.0
    )


@pytest.fixture
def tiny_regressor(tiny_config) -> molformer.MolformerForRegression:
    torch.manual_seed(0)
    return molformer.MolformerForRegression(tiny_config).eval()
