"""The MLM loop on a tiny model: it learns, it resumes exactly, it stops on a time budget, descriptors are cached."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import molpeft_cli.model as molformer
from molpeft_cli.chem.descriptors import DESCRIPTORS, cached_descriptors
from molpeft_cli.training.mlm import MLMTrainer, prepare_mlm_data
from molpeft_cli.training.mlm_config import MLMConfig
from molpeft_cli.training.mlm_state import load_saved_model, read_run


def fresh_model(smiles: list[str], seed: int = 0):
    tokenizer = molformer.MolformerTokenizer(vocab=molformer.build_vocab(smiles))
    torch.manual_seed(seed)
    model = molformer.MolformerForMaskedLM(molformer.named_config("tiny", vocab_size=len(tokenizer.vocab)))
    return model, tokenizer


def test_short_run_lowers_heldout_loss(tmp_path, corpus_smiles):
    model, tokenizer = fresh_model(corpus_smiles)
    config = MLMConfig(batch_size=16, epochs=6, lr=3e-3, holdout=0.2, eval_every=0, patience=0, save_every=1000)
    data = prepare_mlm_data(corpus_smiles, tokenizer, config)
    trainer = MLMTrainer(model, tokenizer, data, config, tmp_path / "out")
    before = trainer.evaluate()["heldout_loss"]
    state = trainer.train()
    after = state.log[-1]["heldout_loss"]
    assert len(state.log) == 6 and state.finished and state.stop_reason == "epochs"
    assert after < before - 0.3, (before, [row["heldout_loss"] for row in state.log])


def _run(out: Path, smiles: list[str], config: MLMConfig, interrupt_at: int | None = None) -> None:
    model, tokenizer = fresh_model(smiles)
    data = prepare_mlm_data(smiles, tokenizer, config)

    def interrupt(step: int) -> None:
        if step == interrupt_at:
            raise KeyboardInterrupt

    try:
        MLMTrainer(model, tokenizer, data, config, out, on_step=interrupt).train()
    except KeyboardInterrupt:
        assert not out.exists()  # an interrupted run leaves no output, only OUTPUT.resume/
        saved = read_run(out)
        model, tokenizer = load_saved_model(out)
        data = prepare_mlm_data(smiles, tokenizer, config)
        MLMTrainer(model, tokenizer, data, config, out, saved=saved).train()


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, corpus_smiles):
    config = MLMConfig(batch_size=16, epochs=3, eval_every=3, save_every=4, holdout=0.1, lr=1e-3,
                       descriptor_weight=0.5, patience=0)
    _run(tmp_path / "whole", corpus_smiles, config)
    _run(tmp_path / "resumed", corpus_smiles, config, interrupt_at=10)  # last save at step 8, epoch 1
    for name in ("model.safetensors", "descriptor_head.safetensors", "trainer_state/model_last.safetensors"):
        whole, resumed = load_file(tmp_path / "whole" / name), load_file(tmp_path / "resumed" / name)
        assert whole.keys() == resumed.keys()
        for key in whole:
            assert torch.equal(whole[key], resumed[key]), f"{name}: {key} differs"
    log_whole = read_run(tmp_path / "whole").state.log
    log_resumed = read_run(tmp_path / "resumed").state.log
    assert [r["heldout_loss"] for r in log_whole] == [r["heldout_loss"] for r in log_resumed]


def test_time_budget_stops_and_saves_resumably(tmp_path, corpus_smiles):
    model, tokenizer = fresh_model(corpus_smiles)
    config = MLMConfig(batch_size=16, epochs=2, max_minutes=1e-6, holdout=0.1)
    data = prepare_mlm_data(corpus_smiles, tokenizer, config)
    state = MLMTrainer(model, tokenizer, data, config, tmp_path / "out").train()
    assert state.stop_reason == "time budget" and not state.finished
    saved = read_run(tmp_path / "out")
    assert not saved.state.finished
    assert not (tmp_path / "out").exists()  # an unfinished run leaves no output, only its resumable state
    assert saved.directory == tmp_path / "out.resume"
    loaded = molformer.loading.load_pretrained(tmp_path / "out.resume", "mlm")
    assert loaded.report.notes == []


def test_descriptors_are_cached(tmp_path):
    cache = tmp_path / "descriptors.parquet"
    smiles = ["CCO", "c1ccccc1O", "not a smiles", "CCO"]
    values, computed = cached_descriptors(smiles, cache)
    assert computed == 3 and values.shape == (4, len(DESCRIPTORS))
    assert np.isnan(values[2]).all() and np.isfinite(values[[0, 1, 3]]).all()
    assert np.array_equal(values[0], values[3])
    assert values[0][DESCRIPTORS.index("mol_weight")] == pytest.approx(46.07, abs=0.01)
    again, computed_again = cached_descriptors(["c1ccccc1O", "CCO", "CCN"], cache)
    assert computed_again == 1
    assert np.array_equal(again[0], values[1]) and math.isclose(again[1][0], values[0][0])
