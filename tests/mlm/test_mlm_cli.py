"""`molpeft mlm` end to end: from-scratch vocabulary, the output directory's contents and loading, table splits,
and user errors as one line."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import assert_one_line_error, invoke

FAST = ["--epochs", "2", "--batch-size", "16", "--eval-every", "3", "--save-every", "4", "--holdout", "0.1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smiles_file):
    out = tmp_path_factory.mktemp("mlm") / "ckpt"
    result = invoke(CliRunner(), ["mlm", str(smiles_file), "-o", str(out), "--from-scratch", "--size", "tiny",
                                  "--descriptor-weight", "0.5", *FAST])
    assert result.exit_code == 0, result.output
    return out, result


def test_from_scratch_vocabulary_covers_corpus(trained, corpus_smiles):
    import molpeft_cli.model as molformer
    from molpeft_cli.model.loading import load_tokenizer

    out, result = trained
    tokenizer = load_tokenizer(out)
    encoded = molformer.encode_smiles(tokenizer, corpus_smiles, truncate=True)
    assert sum(encoded.unknown_counts) == 0
    assert "vocabulary:" in result.stderr and "[nH]" in result.stderr


def test_output_directory_contents(trained):
    out, _ = trained
    for name in ("config.json", "model.safetensors", "vocab.json", "training_log.parquet", "manifest.json",
                 "descriptor_head.safetensors", "descriptor_head.json", "trainer_state/state.json",
                 "trainer_state/optimizer.pt"):
        assert (out / name).is_file(), name
    log = pl.read_parquet(out / "training_log.parquet")
    for column in ("step", "epoch", "train_loss", "heldout_loss", "heldout_accuracy", "seconds"):
        assert column in log.columns
    assert log.height >= 2 and log["heldout_loss"].is_not_null().all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "mlm" and manifest["finished"] is True
    assert (out.parent / "ckpt.descriptors.parquet").is_file()


def test_output_loads_for_regression_with_only_head_notes(trained):
    from molpeft_cli.model.loading import load_pretrained

    out, _ = trained
    loaded = load_pretrained(out, "regression")
    report = loaded.report
    assert all(k.startswith("regressor.") for k in report.missing_keys)
    assert all(k.startswith("lm_head.") for k in report.unexpected_keys)
    assert len(report.notes) == 2
    assert any("regression head" in note for note in report.notes)
    assert any("masked-LM head" in note for note in report.notes)


def test_resume_of_a_finished_run_does_nothing(trained, smiles_file):
    out, _ = trained
    before = (out / "model.safetensors").read_bytes()
    result = invoke(CliRunner(), ["mlm", str(smiles_file), "-o", str(out), "--from-scratch", "--size", "tiny",
                                  "--descriptor-weight", "0.5", "--resume", *FAST])
    assert result.exit_code == 0, result.output
    assert "already finished" in result.stderr
    assert (out / "model.safetensors").read_bytes() == before


def test_resume_with_other_settings_is_refused(trained, smiles_file):
    out, _ = trained
    result = invoke(CliRunner(), ["mlm", str(smiles_file), "-o", str(out), "--from-scratch", "--size", "tiny",
                                  "--descriptor-weight", "0.5", "--resume", *FAST, "--lr", "0.5"])
    assert_one_line_error(result, "settings differ")


def test_table_trains_on_train_split_only(tmp_path, corpus_smiles):
    from molpeft_cli.training.corpus import load_corpus

    n = len(corpus_smiles)
    splits = ["train" if i % 10 < 8 else ("valid" if i % 10 == 8 else "test") for i in range(n)]
    table = pl.DataFrame({
        "mol_id": [f"m{i}" for i in range(n)], "smiles": corpus_smiles, "smiles_canonical": corpus_smiles,
        "inchikey": [f"KEY{i}" for i in range(n)], "label": [0.0] * n, "source": ["t"] * n, "split": splits,
    })
    path = tmp_path / "split.parquet"
    table.write_parquet(path)
    corpus = load_corpus(str(path))
    assert corpus.smiles == [s for s, sp in zip(corpus_smiles, splits, strict=True) if sp == "train"]
    assert corpus.rows_excluded == splits.count("valid") + splits.count("test")
    both = load_corpus(str(path), ["train", "valid"])
    assert len(both.smiles) == n - splits.count("test")


def test_plain_gzipped_file_with_header(tmp_path):
    from molpeft_cli.training.corpus import load_corpus

    path = tmp_path / "train.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("SMILES\nCCO\nc1ccccc1\n\nCC(=O)O name\n")
    corpus = load_corpus(str(path))
    assert corpus.kind == "smiles file" and corpus.smiles == ["CCO", "c1ccccc1", "CC(=O)O"]


def test_missing_input_is_one_line(tmp_path):
    result = invoke(CliRunner(), ["mlm", str(tmp_path / "nope.smi"), "-o", str(tmp_path / "o"),
                                  "--from-scratch", "--size", "tiny"])
    assert_one_line_error(result, "not found")


def test_no_smiles_is_one_line(tmp_path):
    empty = tmp_path / "empty.smi"
    empty.write_text("\n\n")
    result = invoke(CliRunner(), ["mlm", str(empty), "-o", str(tmp_path / "o"), "--from-scratch", "--size", "tiny"])
    assert_one_line_error(result, "no SMILES")


def test_size_without_from_scratch_is_one_line(tmp_path, smiles_file):
    result = invoke(CliRunner(), ["mlm", str(smiles_file), "-o", str(tmp_path / "o"), "--size", "tiny"])
    assert_one_line_error(result, "--from-scratch")


def test_bad_setting_is_one_line(tmp_path, smiles_file):
    result = invoke(CliRunner(), ["mlm", str(smiles_file), "-o", str(tmp_path / "o"), "--from-scratch",
                                  "--size", "tiny", "--mask-prob", "1.5"])
    assert_one_line_error(result, "--mask-prob")
