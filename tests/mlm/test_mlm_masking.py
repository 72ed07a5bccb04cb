"""Masking statistics and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch

import molpeft_cli.model as molformer
from molpeft_cli.training.masking import IGNORE_INDEX, MaskingSpec, mask_tokens, step_generator
from molpeft_cli.training.schedule import lr_factor, warmup_steps_for


@pytest.fixture(scope="module")
def batch(corpus_smiles):
    from molpeft_cli.training.batching import collate

    tokenizer = molformer.MolformerTokenizer(vocab=molformer.build_vocab(corpus_smiles))
    encoded = molformer.encode_smiles(tokenizer, corpus_smiles * 20, truncate=True)
    input_ids, mask = collate(encoded.input_ids, tokenizer.pad_token_id)
    return tokenizer, input_ids, mask


def test_masking_rates_and_specials(batch):
    tokenizer, input_ids, mask = batch
    spec = MaskingSpec.for_tokenizer(tokenizer)
    masked, labels = mask_tokens(input_ids, mask, spec, step_generator(0, 0))
    special = torch.isin(input_ids, torch.tensor(spec.special_ids))
    real = mask.bool() & ~special
    chosen = labels != IGNORE_INDEX

    assert not (chosen & special).any(), "a special token (<bos>/<eos>/<pad>) was chosen"
    assert torch.equal(masked[special], input_ids[special]), "a special token was changed"
    assert torch.equal(labels[chosen], input_ids[chosen])
    assert abs(chosen.sum().item() / real.sum().item() - 0.15) < 0.01

    n = chosen.sum().item()
    to_mask = (masked == spec.mask_id) & chosen
    changed = (masked != input_ids) & chosen & ~to_mask
    kept = (masked == input_ids) & chosen
    assert abs(to_mask.sum().item() / n - 0.8) < 0.02
    # a random replacement equals the original token now and then, so "kept" is a little above 10%
    assert abs(changed.sum().item() / n - 0.1) < 0.02
    assert abs(kept.sum().item() / n - 0.1) < 0.03
    assert not torch.isin(masked[changed], torch.tensor(spec.special_ids)).any(), "random token was special"
    assert ((masked == spec.mask_id) == to_mask).all(), "<mask> outside the chosen positions"


def test_masks_depend_only_on_seed_and_step(batch):
    tokenizer, input_ids, mask = batch
    spec = MaskingSpec.for_tokenizer(tokenizer)
    first = mask_tokens(input_ids, mask, spec, step_generator(3, 17))
    torch.rand(5)  # global RNG use does not matter
    again = mask_tokens(input_ids, mask, spec, step_generator(3, 17))
    other = mask_tokens(input_ids, mask, spec, step_generator(3, 18))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_warmup_then_decay():
    total, warmup = 100, warmup_steps_for(100, 0.1)
    assert warmup == 10
    rates = [lr_factor(s, total, warmup, "cosine") for s in range(total)]
    assert all(a < b for a, b in zip(rates[:10], rates[1:11], strict=True))
    assert rates[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert lr_factor(total, total, warmup, "cosine") == pytest.approx(0.0)
    assert lr_factor(55, total, warmup, "linear") == pytest.approx(0.5)
    assert warmup_steps_for(100, 25) == 25
