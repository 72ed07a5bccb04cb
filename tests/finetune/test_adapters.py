"""Every fine-tuning method through the same checks (one parametrised table)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from molpeft_cli.adapters import REGISTRY
from molpeft_cli.adapters.base import count_parameters
from molpeft_cli.errors import MolpeftError
from molpeft_cli.training.options import FinetuneOptions

METHODS = ["full", "bitfit", "lora", "ia3"]


def load_base(tiny_base, options):
    from molpeft_cli.model.loading import load_pretrained
    from molpeft_cli.training.checkpoint import config_overrides

    torch.manual_seed(0)
    return load_pretrained(tiny_base, "regression", config_overrides=config_overrides(options.to_dict()))


def batch(tokenizer):
    from molpeft_cli.model import encode_smiles
    from molpeft_cli.training.batching import collate

    enc = encode_smiles(tokenizer, ["CCO", "c1ccccc1CC(=O)N", "CN1CCN(CC1)c1ccccc1Cl"])
    ids, mask = collate(enc.input_ids, tokenizer.pad_token_id)
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_adapted_model_at_step_0_equals_base(tiny_base, method):
    options = FinetuneOptions(peft=method).resolved()
    loaded = load_base(tiny_base, options)
    inputs = batch(loaded.tokenizer)
    with torch.no_grad():
        before = loaded.model(**inputs).logits.clone()
        adapted = REGISTRY[method].prepare(loaded.model, options.to_dict()).eval()
        after = adapted(**inputs).logits
    assert torch.equal(before, after)
    if method == "lora":  # B = 0 is why
        assert all(torch.count_nonzero(p) == 0 for n, p in adapted.named_parameters() if "lora_B" in n)
    else:  # scaling vectors start at one
        assert all(torch.all(p == 1) for n, p in adapted.named_parameters() if "ia3_l" in n)


@pytest.mark.parametrize("method", METHODS)
def test_training_changes_only_the_method_parameters_and_reload_is_exact(tiny_base, lipo_split_small, tmp_path,
                                                                          method):
    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.prediction import predict_molecules

    options = FinetuneOptions(peft=method, max_epochs=2, batch_size=32, lr=5e-3)
    base_state = {k: v.clone() for k, v in load_base(tiny_base, options.resolved()).model.state_dict().items()}
    out = tmp_path / f"ck-{method}"
    run_finetune(str(lipo_split_small), str(out), options, str(tiny_base), [], seed=0)
    ft = load_finetuned(out)
    base_model = REGISTRY[method].base_model(ft.model)
    if method == "lora":
        base_model = ft.model.base_model.model
    changed = []
    for name, tensor in base_model.state_dict().items():
        clean = name.replace("base_layer.", "")
        if clean in base_state and not torch.equal(base_state[clean], tensor):
            changed.append(clean)
    encoder_changed = [n for n in changed if not n.startswith("regressor.")]
    if method == "full":
        assert any(n.endswith(".weight") for n in encoder_changed)
    elif method == "bitfit":
        assert encoder_changed and all(n.endswith(".bias") for n in encoder_changed)
    else:
        assert encoder_changed == []  # peft leaves base weights alone
        trained = [n for n, p in ft.model.named_parameters() if ("lora_B" in n or "ia3_l" in n)]
        assert trained
    # reload reproduces predictions exactly, and eval mode is deterministic
    smiles = pl.read_parquet(lipo_split_small)["smiles_canonical"].to_list()[:30]
    first = predict_molecules(ft, smiles)
    again = predict_molecules(load_finetuned(out), smiles)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, predict_molecules(ft, smiles))
    files = {p.name for p in out.iterdir()}
    assert {"finetune.json", "config.json", "vocab.json", "training_log.parquet", "manifest.json"} <= files
    assert ("model.safetensors" in files) == (method == "full")


def test_xl_trainable_counts_match_an_independent_count():
    import molpeft_cli.model as M

    L, H, F, V = 12, 768, 768, 2362  # layers, hidden, FFN intermediate, vocabulary
    # q, k, v, attention output dense; two LayerNorms; FFN in and out (the random-feature matrix is a buffer)
    per_layer = 4 * (H * H + H) + 2 * (2 * H) + (H * F + F) + (F * H + H)
    encoder = V * H + L * per_layer + 2 * H
    head = H + 1
    r = FinetuneOptions(peft="lora").resolved().lora_rank
    assert r == REGISTRY["lora"].option_defaults["lora_rank"] == 16  # tuned (issue 11; the original study: 8)
    expected = {
        "full": (encoder + head, encoder + head),
        "bitfit": (L * (4 * H + H + F + H + H) + H + head, encoder + head),
        "lora": (L * 4 * r * (H + H) + head, encoder + head + L * 4 * r * (H + H) + head),
        "ia3": (L * (H + H + F) + head, encoder + head + L * (H + H + F) + head),
    }
    assert encoder == 44_375_040
    for method, (trainable, total) in expected.items():
        with torch.device("meta"):
            model = REGISTRY[method].prepare(M.MolformerForRegression(M.named_config("xl")),
                                             FinetuneOptions(peft=method).resolved().to_dict())
        counts = count_parameters(model)
        assert (counts.trainable, counts.total) == (trainable, total), method


def test_lora_uses_the_options_it_is_given():
    # the defaults are filled once, by FinetuneOptions.resolved(); prepare takes the rank it is handed
    options = FinetuneOptions(peft="lora", lora_rank=4, lora_alpha=8.0).resolved()
    assert (options.lora_rank, options.lora_alpha) == (4, 8.0)
    assert FinetuneOptions(peft="full").resolved().lora_rank == 16  # recorded in every method's manifest
    config = REGISTRY["lora"].peft_config(options.to_dict())
    assert (config.r, config.lora_alpha) == (4, 8.0)
    with pytest.raises(MolpeftError, match="lora_rank and lora_alpha"):
        REGISTRY["lora"].peft_config({})
