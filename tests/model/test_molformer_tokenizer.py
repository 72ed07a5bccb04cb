"""SMILES tokenizer, vocabulary, transformers round-trip, and encoding with unknown/too-long checks."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

import molpeft_cli.model as molformer
from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.encoding import encode_smiles
from molpeft_cli.model.loading import save_checkpoint
from molpeft_cli.model.tokenizer import scan_smiles, split_smiles
from tests.model.reference_layout import reference_vocab


def test_regex_splits_brackets_two_letter_atoms_and_ring_numbers():
    assert split_smiles("CC(=O)N[C@@H](Cl)c1ccccc1Br") == [
        "C",
        "C",
        "(",
        "=",
        "O",
        ")",
        "N",
        "[C@@H]",
        "(",
        "Cl",
        ")",
        "c",
        "1",
        "c",
        "c",
        "c",
        "c",
        "c",
        "1",
        "Br",
    ]
    assert split_smiles("C%12CC%12") == ["C", "%12", "C", "C", "%12"]
    assert split_smiles("[Na+].[Cl-]") == ["[Na+]", ".", "[Cl-]"]


def test_unmatchable_text_becomes_unknown_not_dropped():
    assert split_smiles("CXeC") == ["C", "<unk>", "C"]
    assert scan_smiles("CXeC") == [("C", True), ("Xe", False), ("C", True)]


def test_build_vocab_puts_specials_first_and_applies_min_frequency():
    vocab = molformer.build_vocab(["CCO", "CCN", "C[Na]"], min_frequency=2)
    assert list(vocab)[:5] == ["<bos>", "<eos>", "<pad>", "<unk>", "<mask>"]
    assert vocab["<pad>"] == molformer.MolformerConfig().pad_token_id == 2
    assert list(vocab)[5:] == ["C"]  # C x5; O, N, [Na] once each
    assert len(molformer.build_vocab(["CCO", "CCN", "C[Na]"])) == 5 + 4


def test_sequences_are_bos_tokens_eos_and_pad_right(tiny_tokenizer):
    out = tiny_tokenizer(["CCO", "c1ccccc1Cl"], padding=True)
    v = tiny_tokenizer.vocab
    assert out["input_ids"][0][:5] == [v["<bos>"], v["C"], v["C"], v["O"], v["<eos>"]]
    assert out["input_ids"][0][5:] == [v["<pad>"]] * 6
    assert out["attention_mask"][0] == [1] * 5 + [0] * 6
    assert "token_type_ids" not in out
    assert tiny_tokenizer.decode(out["input_ids"][1], skip_special_tokens=True) == "c1ccccc1Cl"


def test_auto_tokenizer_round_trip(tmp_path, tiny_tokenizer, tiny_config):
    model = molformer.MolformerModel(tiny_config)
    save_checkpoint(model, tiny_tokenizer, tmp_path / "ckpt")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded, molformer.MolformerTokenizer)
    assert loaded.get_vocab() == tiny_tokenizer.get_vocab()
    assert loaded("C(=O)Cl")["input_ids"] == tiny_tokenizer("C(=O)Cl")["input_ids"]
    assert json.loads((tmp_path / "ckpt" / "vocab.json").read_text()) == tiny_tokenizer.vocab


def test_published_vocab_order_is_read_from_the_file(tmp_path):
    vocab = reference_vocab(40)  # <mask> = 3, <unk> = 4 there
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = molformer.MolformerTokenizer(vocab_file=str(tmp_path / "vocab.json"))
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) == (0, 1, 2)
    assert (tokenizer.mask_token_id, tokenizer.unk_token_id) == (3, 4)
    assert tokenizer.cls_token_id == 0 and tokenizer.sep_token_id == 1
    assert len(tokenizer) == 40
    assert tokenizer.smiles_to_ids("C[Se]") == [vocab["C"], 4]


def test_vocab_without_special_tokens_is_refused():
    with pytest.raises(MolpeftError, match="<mask>"):
        molformer.MolformerTokenizer(vocab={"<bos>": 0, "<eos>": 1, "<pad>": 2, "<unk>": 3, "C": 4})


def test_encoding_counts_unknown_tokens(tiny_tokenizer):
    encoded = encode_smiles(tiny_tokenizer, ["CCO", "C[Se]C[Se]", "CXeC"])
    assert encoded.unknown_counts == [0, 2, 1]
    summary = encoded.summary()
    assert summary["molecules_with_unknown_tokens"] == 2 and summary["unknown_tokens"] == 3
    assert summary["unknown_token_counts"] == {"[Se]": 2, "Xe": 1}
    assert encoded.lengths == [5, 6, 5]


def test_too_long_molecules_are_named_unless_truncation_is_allowed(tiny_tokenizer):
    smiles = ["CCO", "C" * 30, "CC", "O" * 12]
    with pytest.raises(
        MolpeftError, match=r"2 of 4 molecules .* 10 positions.*m2 \(32 tokens.*m4 \(14 tokens"
    ):
        encode_smiles(tiny_tokenizer, smiles, max_length=10, ids=["m1", "m2", "m3", "m4"])
    encoded = encode_smiles(tiny_tokenizer, smiles, max_length=10, truncate=True)
    assert encoded.truncated == [1, 3]
    assert encoded.summary()["truncated"] == 2
    assert max(encoded.lengths) == 10
    assert encoded.input_ids[1][-1] == tiny_tokenizer.eos_token_id


def test_lipophilicity_has_one_molecule_over_202_positions(lipo_smiles):
    tokenizer = molformer.MolformerTokenizer(vocab=molformer.build_vocab(lipo_smiles))
    with pytest.raises(MolpeftError, match="1 of 4200 molecules are longer than the model's 202 positions"):
        encode_smiles(tokenizer, lipo_smiles)
    encoded = encode_smiles(tokenizer, lipo_smiles, truncate=True)
    assert len(encoded.truncated) == 1 and encoded.summary()["unknown_tokens"] == 0
