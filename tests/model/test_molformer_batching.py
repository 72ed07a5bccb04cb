"""Length-bucketed batching, dynamic padding, and the ordered eval mode."""

from __future__ import annotations

import pytest
import torch

import molpeft_cli.model as molformer
from molpeft_cli.training.batching import collate, iter_batches, make_batches, padding_overhead, restore_order


@pytest.fixture(scope="module")
def lipo_lengths(lipo_smiles) -> list[int]:
    tokenizer = molformer.MolformerTokenizer(vocab=molformer.build_vocab(lipo_smiles))
    return molformer.encode_smiles(tokenizer, lipo_smiles, truncate=True).lengths


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_molecule_in_exactly_one_batch(lipo_lengths, shuffle):
    batches = make_batches(lipo_lengths, 64, shuffle=shuffle, seed=1)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lipo_lengths)))
    assert all(len(batch) <= 64 for batch in batches)
    assert sum(len(batch) < 64 for batch in batches) <= 1


def test_training_order_is_seeded(lipo_lengths):
    assert make_batches(lipo_lengths, 64, shuffle=True, seed=3) == make_batches(
        lipo_lengths, 64, shuffle=True, seed=3
    )
    assert make_batches(lipo_lengths, 64, shuffle=True, seed=3) != make_batches(
        lipo_lengths, 64, shuffle=True, seed=4
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bucketing_keeps_padding_under_ten_percent_on_lipophilicity(lipo_lengths, seed):
    assert len(lipo_lengths) == 4200
    assert padding_overhead(make_batches(lipo_lengths, 64, shuffle=True, seed=seed), lipo_lengths) <= 0.10
    assert padding_overhead(make_batches(lipo_lengths, 64, shuffle=False), lipo_lengths) <= 0.05


def test_eval_order_is_sorted_and_outputs_return_in_input_order():
    lengths = [5, 2, 9, 3, 7, 2, 4]
    batches = make_batches(lengths, 3, shuffle=False)
    assert [lengths[i] for batch in batches for i in batch] == sorted(lengths)
    outputs = [torch.tensor([float(lengths[i]) for i in batch]) for batch in batches]
    assert restore_order(batches, outputs).tolist() == [float(n) for n in lengths]


def test_collate_pads_right_to_the_longest():
    ids, mask = collate([[0, 5, 1], [0, 5, 6, 7, 1]], pad_id=2)
    assert ids.tolist() == [[0, 5, 1, 2, 2], [0, 5, 6, 7, 1]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_iter_batches_runs_the_model_and_predictions_come_back_in_order(tiny_regressor, tiny_tokenizer):
    smiles = ["CCO", "c1ccccc1Cl" * 2, "C#N", "O=C(O)c1ccncc1", "CC"]
    encoded = molformer.encode_smiles(tiny_tokenizer, smiles)
    labels = [0.5, 1.0, -1.0, 2.0, 0.0]
    batches = list(
        iter_batches(encoded.input_ids, 2, tiny_tokenizer.pad_token_id, shuffle=False, labels=labels)
    )
    with torch.no_grad():
        predictions = restore_order(
            [b.indices for b in batches], [tiny_regressor(**b.model_inputs()).logits for b in batches]
        )
    assert [float(b.labels[0]) for b in batches] == [labels[b.indices[0]] for b in batches]
    for i, ids in enumerate(encoded.input_ids):
        alone = tiny_regressor(*collate([ids], tiny_tokenizer.pad_token_id)).logits[0]
        assert torch.allclose(predictions[i], alone, atol=1e-6)
