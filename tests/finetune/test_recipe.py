"""The fine-tuning recipe: AdamW groups, the warmup-then-plateau learning rate, and the `converged` record."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from molpeft_cli.adapters import REGISTRY
from molpeft_cli.training.optim import PlateauSchedule, parameter_groups
from molpeft_cli.training.options import FinetuneOptions
from tests.finetune.test_adapters import load_base


@pytest.mark.parametrize("method", ["full", "bitfit", "lora", "ia3"])
def test_no_weight_decay_on_biases_layernorms_and_ia3_vectors(tiny_base, method):
    options = FinetuneOptions(peft=method).resolved()
    model = REGISTRY[method].prepare(load_base(tiny_base, options).model, options.to_dict())
    groups = parameter_groups(model, 0.01)
    by_id = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert set(by_id) == set(trainable)  # every trainable tensor exactly once, nothing frozen
    norms = {id(p) for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()}
    for pid, name in trainable.items():
        undecayed = name.endswith("bias") or pid in norms or "ia3_l" in name
        assert by_id[pid] == (0.0 if undecayed else 0.01), name
    if method == "bitfit":  # only the head's weight matrix decays; every trainable bias does not
        assert sorted(trainable[p] for p, wd in by_id.items() if wd > 0) == ["regressor.out_proj.weight"] or all(
            trainable[p].startswith("regressor.") for p, wd in by_id.items() if wd > 0)
    if method == "ia3":
        assert any("ia3_l" in n for n in trainable.values())


def test_plateau_schedule_matches_hand_computed_rates():
    weight = nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([weight], lr=1.0)
    schedule = PlateauSchedule(optimizer, warmup=3, plateau_factor=0.5)
    rates = [schedule.lr]
    for _ in range(4):
        schedule.step()
        rates.append(schedule.lr)
    assert rates == pytest.approx([1 / 4, 2 / 4, 3 / 4, 1.0, 1.0])  # linear warmup over 3 steps, then the base
    schedule.epoch_end(improved=True)
    assert schedule.lr == 1.0
    schedule.epoch_end(improved=False)
    schedule.step()
    assert schedule.lr == 0.5
    schedule.epoch_end(improved=False)
    assert schedule.lr == 0.25


def _train(tiny_base, split_path, **overrides):
    import polars as pl

    from molpeft_cli.training.regression import LabelledSet, finetune_regression

    options = FinetuneOptions(peft="bitfit", batch_size=32, **overrides).resolved()
    loaded = load_base(tiny_base, options)
    model = REGISTRY["bitfit"].prepare(loaded.model, options.to_dict())
    table = pl.read_parquet(split_path)
    sets = [LabelledSet.from_table(table.filter(pl.col("split") == s)) for s in ("train", "valid")]
    return finetune_regression(model, loaded.tokenizer, options, *sets, seed=0)


def test_converged_means_early_stopping_fired(tiny_base, lipo_split_small):
    # a vanishing rate barely moves the validation MSE, so patience 2 fires long before epoch 10
    still = _train(tiny_base, lipo_split_small, lr=1e-12, max_epochs=10, patience=2)
    assert still.converged and still.epochs_run == still.best_epoch + 2 < 10
    valid = still.log["valid_mse"].to_list()
    assert min(valid[still.best_epoch:]) >= valid[still.best_epoch - 1]  # the last 2 epochs did not improve
    assert still.log["lr"].to_list()[-1] < still.log["lr"].to_list()[0]  # halved after each flat epoch
    # the same run cut at --max-epochs 2 ends before patience ran out: not converged
    cut = _train(tiny_base, lipo_split_small, lr=1e-12, max_epochs=2, patience=2)
    assert not cut.converged and cut.epochs_run == 2
