"""peft wraps the native model: LoRA on query/key/value/intermediate.dense starts equal to the base model."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model

import molpeft_cli.model as molformer
from molpeft_cli.training.batching import collate


def test_lora_wraps_the_regressor_and_starts_at_the_base_model(tiny_regressor, tiny_tokenizer):
    ids, mask = collate(molformer.encode_smiles(tiny_tokenizer, ["CCO", "c1ccccc1Cl"]).input_ids, 2)
    before = tiny_regressor(ids, mask).logits
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["query", "key", "value", "intermediate.dense"],
        modules_to_save=["regressor"],
    )
    wrapped = get_peft_model(tiny_regressor, config).eval()
    assert torch.allclose(wrapped(input_ids=ids, attention_mask=mask).logits, before, atol=1e-6)
    trainable = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    assert any("query.lora_A" in n for n in trainable) and any(
        "intermediate.dense.lora_B" in n for n in trainable
    )
    assert not any("feature_map" in n for n in trainable)
