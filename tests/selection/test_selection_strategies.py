"""Every strategy through the same checks: k respected, output columns and ranks, determinism, row order."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from selection_helpers import (
    DropoutRegressor,
    feature_batches,
    features,
    lipophilicity_pool,
    predict,
    with_scores,
)

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection import (
    REGISTRY,
    BadgeConfig,
    InfluenceSelectionConfig,
    KCenterConfig,
    LcmdConfig,
    MaxMinConfig,
    McDropoutConfig,
    RandomConfig,
    SelectionContext,
    select_pool,
)

N = 60


def mcdropout_context(pool: pl.DataFrame) -> SelectionContext:
    torch.manual_seed(0)
    return SelectionContext(
        model=DropoutRegressor(), predict=predict, batches=feature_batches(features(pool.height))
    )


def embedding_context(pool: pl.DataFrame) -> SelectionContext:
    """Vectors given instead of a model, a function of each row's mol_id (so they follow the rows), and 3 centres."""
    import numpy as np

    rows = [np.random.default_rng(int(m[6:]) if m[6:].isdigit() else len(m)).normal(size=4) for m in pool["mol_id"]]
    return SelectionContext(embeddings=np.stack(rows), reference_embeddings=np.zeros((3, 4)) + np.arange(3)[:, None])


# (name, config, context factory, choice independent of the pool's row order)
# mcdropout is not: a molecule's dropout masks depend on where its row sits in the batch
CASES = [
    ("random", RandomConfig(k=12, seed=3), lambda pool: SelectionContext(), True),
    ("maxmin", MaxMinConfig(k=12, seed=3), lambda pool: SelectionContext(), True),
    ("mcdropout", McDropoutConfig(k=12, passes=20, seed=3), mcdropout_context, False),
    ("influence", InfluenceSelectionConfig(k=12), lambda pool: SelectionContext(), True),
    # egl and gradsim need a model: tests/selection/test_model_strategies.py; badge's draws follow the row order
    ("kcenter", KCenterConfig(k=12), embedding_context, True),
    ("lcmd", LcmdConfig(k=12), embedding_context, True),
    ("badge", BadgeConfig(k=12, seed=3), embedding_context, False),
]


@pytest.fixture(scope="module")
def pool() -> pl.DataFrame:
    return with_scores(lipophilicity_pool(N))


def test_registry_lists_the_strategies() -> None:
    assert list(REGISTRY) == ["all", "random", "maxmin", "mcdropout", "influence", "egl", "kcenter", "badge", "lcmd",
                              "gradsim"]
    for entry in REGISTRY.values():
        assert entry.config_cls().k == 185


@pytest.mark.parametrize(("name", "config", "make_context", "order_free"), CASES, ids=[c[0] for c in CASES])
def test_shared_checks(pool: pl.DataFrame, name: str, config, make_context, order_free: bool) -> None:
    chosen = select_pool(pool, name, config, make_context(pool))
    assert chosen.height == 12
    assert chosen["rank"].to_list() == list(range(1, 13))
    assert chosen["strategy"].unique().to_list() == [name]
    assert chosen["score"].dtype == pl.Float64
    assert set(pool.columns) <= set(chosen.columns)
    assert chosen["mol_id"].is_unique().all() and set(chosen["mol_id"]) <= set(pool["mol_id"])
    # same inputs, same choice; and the pool's row order does not change it
    again = select_pool(pool, name, config, make_context(pool))
    assert again["mol_id"].to_list() == chosen["mol_id"].to_list()
    if not order_free:
        return
    shuffled = pool.sample(fraction=1.0, shuffle=True, seed=1)
    reordered = select_pool(shuffled, name, config, make_context(shuffled))
    assert reordered["mol_id"].to_list() == chosen["mol_id"].to_list()


@pytest.mark.parametrize(("name", "config", "make_context", "_"), CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_k_above_pool_size_takes_everything(
    pool: pl.DataFrame, name: str, config, make_context, _, caplog
) -> None:
    small = pool.head(8)
    config = type(config)(**{**config.to_dict(), "k": 50})
    chosen = select_pool(small, name, config, make_context(small))
    assert chosen.height == 8
    assert "only 8" in caplog.text


def test_seeds_change_random_and_maxmin_choices(pool: pl.DataFrame) -> None:
    for name, cls in (("random", RandomConfig), ("maxmin", MaxMinConfig)):
        a = select_pool(pool, name, cls(k=12, seed=0))["mol_id"].to_list()
        b = select_pool(pool, name, cls(k=12, seed=1))["mol_id"].to_list()
        assert a != b


def test_bad_inputs(pool: pl.DataFrame) -> None:
    with pytest.raises(MolpeftError, match="unknown selection strategy"):
        select_pool(pool, "entropy")
    with pytest.raises(MolpeftError, match="RandomConfig"):
        select_pool(pool, "random", MaxMinConfig())
    with pytest.raises(MolpeftError, match="repeat"):
        select_pool(pl.concat([pool, pool.head(1)]), "random")
    with pytest.raises(MolpeftError, match="smiles_canonical"):
        select_pool(pool.drop("smiles_canonical"), "maxmin")
    with pytest.raises(MolpeftError, match="no rows"):
        select_pool(pool.head(0), "random")
    with pytest.raises(MolpeftError, match="k must be"):
        RandomConfig(k=0)
    with pytest.raises(MolpeftError, match="not a threshold"):
        RandomConfig(threshold=0.5)
