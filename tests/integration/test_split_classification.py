"""Splits of a binary table (Lipophilicity, label = exp >= 2.5): the stratified random split against a hand count,
the per-class warnings, the class counts of the summary, the refusals; carve on binary labels."""

import json

import numpy as np
import polars as pl
import pytest

from molpeft_cli.chem.splitters import (
    split_molecules,
    stratified_random_assignment,
    summarize_split,
    thin_classes,
)
from molpeft_cli.data.molecules import build_molecule_table
from molpeft_cli.data.registry import resolve_source
from molpeft_cli.data.tables import read_table
from tests.conftest import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def binary_table():
    raw = read_table(resolve_source("lipophilicity").path).head(200)
    raw = raw.with_columns(pl.when(pl.col("exp").cast(pl.Float64) >= 2.5).then(pl.lit("active"))
                           .otherwise(pl.lit("inactive")).alias("exp"))
    return build_molecule_table(raw, source="lipophilicity").molecules


@pytest.fixture
def binary_file(tmp_path, binary_table):
    path = tmp_path / "binary.parquet"
    binary_table.write_parquet(path)
    return path


def test_stratified_assignment_matches_a_hand_count():
    labels = np.array([1.0] * 30 + [0.0] * 70)
    assignment = stratified_random_assignment(labels, (0.8, 0.1, 0.1), seed=4)
    # by hand: 30 positives -> 24 / 3 / 3, 70 negatives -> 56 / 7 / 7
    for value, expected in ((1.0, (24, 3, 3)), (0.0, (56, 7, 7))):
        got = tuple(int(np.sum((labels == value) & (assignment == part))) for part in ("train", "valid", "test"))
        assert got == expected
    # 13 positives at 0.7/0.15/0.15: round(9.1) = 9 train, round(11.05) = 11 -> 2 valid, 2 test
    labels = np.array([1.0] * 13 + [0.0] * 7)
    assignment = stratified_random_assignment(labels, (0.7, 0.15, 0.15), seed=0)
    assert [int(np.sum((labels == 1) & (assignment == p))) for p in ("train", "valid", "test")] == [9, 2, 2]
    assert [int(np.sum((labels == 0) & (assignment == p))) for p in ("train", "valid", "test")] == [5, 1, 1]


def test_stratified_split_keeps_proportions_is_seeded_and_differs_between_seeds(binary_table):
    positives = int(binary_table["label"].sum())
    negatives = binary_table.height - positives
    split = split_molecules(binary_table, "random", (0.8, 0.1, 0.1), seed=1, stratify=True)
    summary = summarize_split(split, "random")
    for part, fraction in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        assert summary.class_counts[part]["positive"] == int(np.floor(fraction * positives + 0.5))
        assert summary.class_counts[part]["negative"] == int(np.floor(fraction * negatives + 0.5))
    again = split_molecules(binary_table, "random", (0.8, 0.1, 0.1), seed=1, stratify=True)
    other = split_molecules(binary_table, "random", (0.8, 0.1, 0.1), seed=2, stratify=True)
    assert again["split"].to_list() == split["split"].to_list()
    assert other["split"].to_list() != split["split"].to_list()
    counted = split.group_by("split").agg(pl.col("label").sum()).sort("split")
    assert dict(counted.iter_rows()) == {p: float(c["positive"]) for p, c in summary.class_counts.items()}


def test_thin_classes_names_each_split_with_few_molecules_of_a_class():
    counts = {"train": {"positive": 80, "negative": 90}, "valid": {"positive": 9, "negative": 12},
              "test": {"positive": 3, "negative": 4}}
    assert thin_classes(counts) == ["valid: 9 positive", "test: 3 positive and 4 negative"]
    assert thin_classes({"train": {"positive": 20, "negative": 20}, "valid": {"positive": 0, "negative": 0}}) == []


def test_split_command_stratified_summary_json_and_class_warning(runner, tmp_path, binary_file, binary_table):
    summary_path = tmp_path / "s.json"
    result = invoke(runner, ["--seed", "5", "split", str(binary_file), "--strategy", "random", "--stratify",
                             "-o", str(tmp_path / "s.parquet"), "--summary", str(summary_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(summary_path.read_text())
    split = pl.read_parquet(tmp_path / "s.parquet")
    for part in ("train", "valid", "test"):
        labels = split.filter(pl.col("split") == part)["label"]
        assert summary["class_counts"][part] == {"positive": int(labels.sum()),
                                                 "negative": labels.len() - int(labels.sum())}
    # 200 molecules: ~90 positive, ~110 negative -> about 9 and 11 per 10% split: the positives are thin
    assert "fewer than 10 molecules of a class" in result.stderr and "positive" in result.stderr
    manifest = json.loads((tmp_path / "s.parquet.manifest.json").read_text())
    assert manifest["params"]["stratify"] is True
    assert manifest["summary"][0]["class_counts"] == summary["class_counts"]


def test_scaffold_split_of_binary_labels_has_class_counts_and_regression_none(runner, tmp_path, binary_file,
                                                                              small_csv):
    result = invoke(runner, ["split", str(binary_file), "-o", str(tmp_path / "s.parquet"),
                             "--summary", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert sum(c["positive"] + c["negative"] for c in summary["class_counts"].values()) == 200
    result = invoke(runner, ["split", str(small_csv), "-o", str(tmp_path / "r.parquet"),
                             "--summary", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "class_counts" not in json.loads((tmp_path / "r.json").read_text())
    assert "stratify" not in json.loads((tmp_path / "r.parquet.manifest.json").read_text())["params"]


@pytest.mark.parametrize("args,needle", [
    (["--stratify"], "--stratify applies to the random split strategy only"),
    (["--stratify", "--compare"], "--stratify applies to the random split strategy only"),
])
def test_stratify_refused_for_other_strategies(runner, tmp_path, binary_file, args, needle):
    assert_one_line_error(invoke(runner, ["split", str(binary_file), "-o", str(tmp_path / "s.parquet"), *args]),
                          needle)


def test_stratify_refused_on_continuous_labels(runner, tmp_path, small_csv):
    result = invoke(runner, ["split", str(small_csv), "--strategy", "random", "--stratify",
                             "-o", str(tmp_path / "s.parquet")])
    assert_one_line_error(result, "--stratify needs binary labels")


def test_carve_keeps_whole_scaffold_groups_on_binary_labels(runner, tmp_path, binary_file):
    rest, pool = tmp_path / "rest.parquet", tmp_path / "pool.parquet"
    result = invoke(runner, ["carve", str(binary_file), "-o", str(rest), "--pool", str(pool), "-n", "40"])
    assert result.exit_code == 0, result.output
    assert "positive molecules:" in result.stderr
    carved, kept = pl.read_parquet(pool), pl.read_parquet(rest)
    assert carved.height == 40 and kept.height == 160
    assert set(carved["label"].unique().to_list()) <= {0.0, 1.0}
