"""Splits of the bundled Lipophilicity set with DeepChem's splitters."""

import polars as pl
import pytest

from molpeft_cli.chem.splitters import STRATEGIES, split_molecules, summarize_split
from molpeft_cli.choices import SPLIT_STRATEGIES
from molpeft_cli.data.molecules import build_molecule_table
from molpeft_cli.data.registry import resolve_source
from molpeft_cli.data.tables import read_table


@pytest.fixture(scope="module")
def lipophilicity():
    return build_molecule_table(read_table(resolve_source("lipophilicity").path), source="lipophilicity").molecules


def test_scaffold_split_has_no_shared_scaffolds_and_80_10_10(lipophilicity):
    split = split_molecules(lipophilicity, "scaffold", (0.8, 0.1, 0.1), seed=0)
    summary = summarize_split(split, "scaffold")
    assert summary.shared_scaffolds == {"train_valid": 0, "train_test": 0, "valid_test": 0, "any": 0}
    n = split.height
    for name, target in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        assert abs(summary.per_split[name]["n"] / n - target) <= 0.01
    assert 0.0 < summary.test_max_tanimoto_median <= 1.0
    assert split["scaffold"].null_count() == 0


def test_random_split_is_seeded_and_differs_between_seeds(lipophilicity):
    small = lipophilicity.head(300)
    a = split_molecules(small, "random", (0.8, 0.1, 0.1), seed=1)["split"]
    b = split_molecules(small, "random", (0.8, 0.1, 0.1), seed=1)["split"]
    c = split_molecules(small, "random", (0.8, 0.1, 0.1), seed=2)["split"]
    assert a.equals(b) and not a.equals(c)


@pytest.mark.parametrize("strategy", SPLIT_STRATEGIES)
def test_every_strategy_assigns_every_molecule(lipophilicity, strategy):
    small = lipophilicity.head(200)
    split = split_molecules(small, strategy, (0.8, 0.1, 0.1), seed=0)
    counts = dict(split.group_by("split").len().iter_rows())
    assert sum(counts.values()) == 200 and set(counts) == {"train", "valid", "test"}
    assert split.filter(pl.col("split") == "train").height >= 150


def test_strategy_names_match():
    assert tuple(STRATEGIES) == SPLIT_STRATEGIES
