"""Fixtures for fine-tuning tests: a tiny pretrained-shaped base checkpoint and a ~120-molecule split table."""

from __future__ import annotations

import json

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


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, lipo_split_small):
    """A tiny MoLFormer MLM checkpoint with a vocabulary covering Lipophilicity (random weights, seeded)."""
    import torch

    import molpeft_cli.model as M
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.model.loading import save_checkpoint

    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    directory = tmp_path_factory.mktemp("base")
    vocab_path = directory / "vocab_src.json"
    vocab_path.write_text(json.dumps(M.build_vocab(smiles)))
    tokenizer = M.MolformerTokenizer(vocab_file=str(vocab_path), model_max_length=256)
    config = M.named_config("tiny", vocab_size=len(tokenizer.vocab), max_position_embeddings=256)
    torch.manual_seed(0)
    model = M.MolformerForMaskedLM(config)
    out = directory / "tiny-base"
    save_checkpoint(model, tokenizer, out)
    return out
