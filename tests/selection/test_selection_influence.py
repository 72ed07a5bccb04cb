"""Influence selection: only positive scores, highest first, ties by mol_id, scores from a table."""

from __future__ import annotations

import polars as pl
import pytest

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection import InfluenceSelectionConfig, SelectionContext, select_pool


@pytest.fixture
def pool() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "mol_id": ["a", "b", "c", "d", "e", "f", "g"],
            "smiles_canonical": ["C", "CC", "CCC", "CCCC", "CO", "CCO", "CCCO"],
            "score": [0.5, -1.0, 2.0, 0.5, 0.0, -0.1, 1.0],
        }
    )


def test_keeps_only_positive_scores_highest_first(pool: pl.DataFrame) -> None:
    chosen = select_pool(pool, "influence", InfluenceSelectionConfig(k=185))
    assert chosen["mol_id"].to_list() == ["c", "g", "a", "d"]  # tie a/d broken by mol_id; 0 is not positive
    assert chosen["rank"].to_list() == [1, 2, 3, 4]
    assert (chosen["score"] > 0).all()
    assert select_pool(pool, "influence", InfluenceSelectionConfig(k=2))["mol_id"].to_list() == ["c", "g"]
    assert select_pool(pool, "influence", InfluenceSelectionConfig(threshold=0.5))["mol_id"].to_list() == [
        "c",
        "g",
        "a",
        "d",
    ]
    # threshold 0 still keeps positive scores only
    assert select_pool(pool, "influence", InfluenceSelectionConfig(threshold=0.0)).height == 4


def test_scores_from_a_separate_table(pool: pl.DataFrame) -> None:
    scores = pool.select("mol_id", (-pl.col("score")).alias("score"))
    chosen = select_pool(
        pool.drop("score"), "influence", InfluenceSelectionConfig(k=5), SelectionContext(scores=scores)
    )
    assert chosen["mol_id"].to_list() == ["b", "f"]
    with pytest.raises(MolpeftError, match="2 pool molecules have no influence score"):
        select_pool(pool, "influence", InfluenceSelectionConfig(), SelectionContext(scores=scores.head(5)))
    with pytest.raises(MolpeftError, match="needs scores"):
        select_pool(pool.drop("score"), "influence")
    with pytest.raises(MolpeftError, match="threshold must be >= 0"):
        InfluenceSelectionConfig(threshold=-1.0)
