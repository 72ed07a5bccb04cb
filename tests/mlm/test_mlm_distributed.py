"""`molpeft mlm` data-parallel: 2 gloo processes under torchrun against one process with the same global batch.

Tolerance: with dropout off (a dropout-free copy of the tiny base model), the masks of a step are drawn once for
the global batch on every rank, so the 2-process log equals the 1-process one up to float32 summation order;
asserted to a relative 1e-5 (observed ~1e-7), with the descriptor objective on.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from tests.conftest import run_one_and_two_processes

RTOL = 1e-5


@pytest.fixture(scope="module")
def dropout_free_base(tmp_path_factory, tiny_base):
    from molpeft_cli.model import MolformerForMaskedLM
    from molpeft_cli.model.loading import load_tokenizer, read_config, save_checkpoint

    config = read_config(tiny_base, {"hidden_dropout_prob": 0.0, "embedding_dropout_prob": 0.0})
    model = MolformerForMaskedLM.from_pretrained(str(tiny_base), config=config)
    out = tmp_path_factory.mktemp("base") / "no-dropout"
    save_checkpoint(model, load_tokenizer(tiny_base, config.max_position_embeddings), out)
    return out


def test_two_gloo_processes_match_one_process(runner, tmp_path, smiles_file, dropout_free_base):
    args = ["mlm", str(smiles_file), "--model", str(dropout_free_base), "--descriptor-weight", "0.5",
            "--epochs", "2", "--batch-size", "16", "--eval-every", "3", "--holdout", "0.1", "--seed", "0"]
    run_one_and_two_processes(runner, args, tmp_path)

    one = pl.read_parquet(tmp_path / "one" / "training_log.parquet")
    two = pl.read_parquet(tmp_path / "two" / "training_log.parquet")
    assert one["step"].to_list() == two["step"].to_list() and one.height >= 3
    for column in ("train_loss", "train_mlm_loss", "train_descriptor_loss", "heldout_loss", "heldout_accuracy"):
        np.testing.assert_allclose(two[column].to_numpy(), one[column].to_numpy(), rtol=RTOL, err_msg=column)
    assert one["heldout_loss"][0] != one["heldout_loss"][-1]  # it trained
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["distributed"] == {"world_size": 2, "backend": "gloo", "device": "cpu"}
