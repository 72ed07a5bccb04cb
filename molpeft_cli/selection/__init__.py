"""Strategies that choose which pool molecules join training, asked by name through REGISTRY.

Each strategy is one module with a typed config (k or threshold plus its own fields) and a function
pool table -> chosen rows with `score`, `rank` (1 = chosen first) and `strategy`. Leakage exclusion happens
before, elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.all_pool import AllConfig, select_all
from molpeft_cli.selection.base import OUTPUT_COLUMNS, SelectionConfig, SelectionContext, check_pool
from molpeft_cli.selection.influence import InfluenceConfig, select_influence
from molpeft_cli.selection.maxmin import MaxMinConfig, select_maxmin
from molpeft_cli.selection.mcdropout import McDropoutConfig, mc_dropout_predictions, select_mcdropout
from molpeft_cli.selection.random_sample import RandomConfig, select_random


@dataclass(frozen=True)
class Strategy:
    name: str
    config_cls: type[SelectionConfig]
    select: Callable[[pl.DataFrame, SelectionConfig, SelectionContext], pl.DataFrame]
    columns: tuple[str, ...]  # pool columns it reads
    help: str
    needs: frozenset[str] = frozenset()
    takes_k: bool = True


REGISTRY: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("all", AllConfig, select_all, ("mol_id",), "the whole pool (after the leakage guard)",
                 takes_k=False),
        Strategy("random", RandomConfig, select_random, ("mol_id",), "seeded uniform choice"),
        Strategy(
            "maxmin",
            MaxMinConfig,
            select_maxmin,
            ("mol_id", "smiles_canonical"),
            "MaxMin diversity on Morgan fingerprints; score = Tanimoto distance to earlier picks",
            needs=frozenset({"train"}),
        ),
        Strategy(
            "mcdropout",
            McDropoutConfig,
            select_mcdropout,
            ("mol_id",),
            "most uncertain first; score = std of predictions over dropout passes",
            needs=frozenset({"model"}),
        ),
        Strategy(
            "influence",
            InfluenceConfig,
            select_influence,
            ("mol_id",),
            "positive influence scores (estimated to lower the validation loss), highest first",
            needs=frozenset({"scores"}),
        ),
    )
}


def select_pool(
    pool: pl.DataFrame,
    strategy: str,
    config: SelectionConfig | None = None,
    context: SelectionContext | None = None,
) -> pl.DataFrame:
    """Run a strategy by name; `config` defaults to that strategy's config with default fields."""
    if strategy not in REGISTRY:
        raise MolpeftError(f"unknown selection strategy {strategy!r}; use one of {', '.join(REGISTRY)}")
    entry = REGISTRY[strategy]
    config = entry.config_cls() if config is None else config
    if not isinstance(config, entry.config_cls):
        raise MolpeftError(f"strategy {strategy!r} takes a {entry.config_cls.__name__}")
    check_pool(pool, entry.columns)
    return entry.select(pool, config, context or SelectionContext())


__all__ = [
    "OUTPUT_COLUMNS",
    "REGISTRY",
    "InfluenceConfig",
    "MaxMinConfig",
    "McDropoutConfig",
    "RandomConfig",
    "SelectionConfig",
    "SelectionContext",
    "Strategy",
    "mc_dropout_predictions",
    "select_pool",
]
