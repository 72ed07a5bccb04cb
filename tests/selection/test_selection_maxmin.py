"""MaxMin picks: more diverse than random, far from the training set when seeded with it, threshold mode."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from rdkit import DataStructs
from selection_helpers import lipophilicity_pool

from molpeft_cli.chem.fingerprints import morgan_fingerprints
from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection import MaxMinConfig, RandomConfig, SelectionContext, select_pool


def pairwise_distances(smiles: list[str]) -> np.ndarray:
    fps = morgan_fingerprints(smiles)
    return np.array([1 - DataStructs.TanimotoSimilarity(a, b) for a, b in itertools.combinations(fps, 2)])


def nearest_distance(smiles: list[str], reference: list[str]) -> np.ndarray:
    ref = morgan_fingerprints(reference)
    return np.array(
        [1 - max(DataStructs.BulkTanimotoSimilarity(fp, ref)) for fp in morgan_fingerprints(smiles)]
    )


@pytest.fixture(scope="module")
def pool() -> pl.DataFrame:
    return lipophilicity_pool(150)


def test_maxmin_is_more_diverse_than_random(pool: pl.DataFrame) -> None:
    for seed in range(3):
        maxmin = pairwise_distances(
            select_pool(pool, "maxmin", MaxMinConfig(k=15, seed=seed))["smiles_canonical"]
        )
        rand = pairwise_distances(
            select_pool(pool, "random", RandomConfig(k=15, seed=seed))["smiles_canonical"]
        )
        assert maxmin.min() > rand.min()
        assert maxmin.mean() > rand.mean()


def test_scores_are_distances_at_pick_time(pool: pl.DataFrame) -> None:
    chosen = select_pool(pool, "maxmin", MaxMinConfig(k=15, seed=0))
    scores = chosen["score"].to_list()
    assert scores[0] is None  # nothing to compare the first pick to
    assert all(a >= b - 1e-12 for a, b in zip(scores[1:], scores[2:], strict=False))  # MaxMin: non-increasing
    smiles = chosen["smiles_canonical"].to_list()
    for i in (1, 5, 14):
        assert scores[i] == pytest.approx(nearest_distance([smiles[i]], smiles[:i])[0])


def test_training_molecules_seed_the_picker(pool: pl.DataFrame) -> None:
    train = lipophilicity_pool(200, offset=1000)["smiles_canonical"].to_list()
    context = SelectionContext(train_smiles=train)
    far = select_pool(pool, "maxmin", MaxMinConfig(k=15), context)
    plain = select_pool(pool, "maxmin", MaxMinConfig(k=15, far_from_train=False), context)
    assert far["score"].null_count() == 0  # every pick has the training set to compare to
    far_dist = nearest_distance(far["smiles_canonical"].to_list(), train)
    plain_dist = nearest_distance(plain["smiles_canonical"].to_list(), train)
    assert far_dist.mean() > plain_dist.mean()
    assert far["score"][0] == pytest.approx(far_dist[0])


def test_threshold_picks_until_distance_drops(pool: pl.DataFrame) -> None:
    chosen = select_pool(pool, "maxmin", MaxMinConfig(threshold=0.8, seed=0))
    assert 1 < chosen.height < pool.height
    assert chosen["score"].drop_nulls().min() >= 0.8
    with pytest.raises(MolpeftError, match="Tanimoto distance"):
        MaxMinConfig(threshold=1.5)


def test_unparsable_smiles_is_a_clear_error(pool: pl.DataFrame) -> None:
    broken = pool.with_columns(
        pl.when(pl.col("mol_id") == pool["mol_id"][3])
        .then(pl.lit("C1CC"))
        .otherwise("smiles_canonical")
        .alias("smiles_canonical")
    )
    with pytest.raises(MolpeftError, match=f"cannot be parsed.*{pool['mol_id'][3]}"):
        select_pool(broken, "maxmin", MaxMinConfig(k=5))
