"""Strategies that choose which pool molecules join training, asked by name through REGISTRY.

Each strategy is one module with a typed config (k or threshold plus its own fields), a function
pool table -> chosen rows with `score`, `rank` (1 = chosen first) and `strategy`, and a context builder that
takes what the select step loaded (`SelectionInputs`) to what the function reads (`SelectionContext`). Its entry
here declares what it needs (`needs`, keys of `NEEDS`) and whether it takes `k`, so that neither the step nor the
study plan names a strategy. Leakage exclusion happens before, in the step. Importing this package loads neither
polars nor torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.all_pool import AllConfig, select_all
from molpeft_cli.selection.badge import BadgeConfig, badge_context, select_badge
from molpeft_cli.selection.base import (
    NEEDS,
    OUTPUT_COLUMNS,
    SelectionConfig,
    SelectionContext,
    SelectionInputs,
    check_pool,
    no_context,
)
from molpeft_cli.selection.egl import EglConfig, egl_context, select_egl
from molpeft_cli.selection.gradsim import GradSimConfig, gradsim_context, select_gradsim
from molpeft_cli.selection.influence import InfluenceSelectionConfig, influence_context, select_influence
from molpeft_cli.selection.kcenter import KCenterConfig, kcenter_context, select_kcenter
from molpeft_cli.selection.lcmd import LcmdConfig, lcmd_context, select_lcmd
from molpeft_cli.selection.maxmin import MaxMinConfig, maxmin_context, select_maxmin
from molpeft_cli.selection.mcdropout import (
    McDropoutConfig,
    mc_dropout_predictions,
    mcdropout_context,
    mcdropout_validation,
    select_mcdropout,
)
from molpeft_cli.selection.random_sample import RandomConfig, select_random

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Strategy:
    name: str
    config_cls: type[SelectionConfig]
    select: Callable[[pl.DataFrame, SelectionConfig, SelectionContext], pl.DataFrame]
    columns: tuple[str, ...]  # pool columns it reads
    help: str
    needs: frozenset[str] = frozenset()  # inputs beyond the pool, keys of NEEDS: "model", "scores", "train", "valid"
    takes_k: bool = True  # False: it chooses the whole (guarded) pool, so `k` does not apply
    # SelectionInputs -> (the pool in the order the strategy takes it, its SelectionContext)
    context: Callable[[SelectionInputs], tuple[pl.DataFrame, SelectionContext]] = no_context
    # (inputs, the config as used, the context) -> manifest keys of a check the strategy runs besides choosing
    # (mcdropout: its uncertainty on the validation split); None: no check. It must leave the choice unchanged.
    check: Callable[[SelectionInputs, SelectionConfig, SelectionContext], dict] | None = None

    def __post_init__(self) -> None:
        unknown = self.needs - set(NEEDS)
        if unknown:
            raise ValueError(f"strategy {self.name!r} needs unknown inputs {sorted(unknown)}; known: {list(NEEDS)}")


REGISTRY: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("all", AllConfig, select_all, ("mol_id",), "the whole pool (after the leakage guard)", takes_k=False),
        Strategy("random", RandomConfig, select_random, ("mol_id",), "seeded uniform choice"),
        Strategy(
            "maxmin",
            MaxMinConfig,
            select_maxmin,
            ("mol_id", "smiles_canonical"),
            "MaxMin diversity on Morgan fingerprints; score = Tanimoto distance to earlier picks",
            needs=frozenset({"train"}),
            context=maxmin_context,
        ),
        Strategy(
            "mcdropout",
            McDropoutConfig,
            select_mcdropout,
            ("mol_id",),
            "most uncertain first; score = the spread over dropout passes (std; classification: BALD by default)",
            needs=frozenset({"model"}),
            context=mcdropout_context,
            check=mcdropout_validation,
        ),
        Strategy(
            "influence",
            InfluenceSelectionConfig,
            select_influence,
            ("mol_id",),
            "positive influence scores (estimated to lower the validation loss), highest first",
            needs=frozenset({"scores"}),
            context=influence_context,
        ),
        Strategy(
            "egl",
            EglConfig,
            select_egl,
            ("mol_id",),
            "expected gradient length over the trainable parameters, largest first (regression: the prediction's "
            "gradient norm)",
            needs=frozenset({"model"}),
            context=egl_context,
        ),
        Strategy(
            "kcenter",
            KCenterConfig,
            select_kcenter,
            ("mol_id",),
            "core-set greedy in the model's pooled embedding, from the training molecules; score = distance to "
            "the nearest centre",
            needs=frozenset({"model", "train"}),
            context=kcenter_context,
        ),
        Strategy(
            "badge",
            BadgeConfig,
            select_badge,
            ("mol_id",),
            "classification: k-means++ on last-layer gradient embeddings at the predicted label (seeded)",
            needs=frozenset({"model"}),
            context=badge_context,
        ),
        Strategy(
            "lcmd",
            LcmdConfig,
            select_lcmd,
            ("mol_id",),
            "regression: largest cluster maximum distance on last-layer features, from the training molecules",
            needs=frozenset({"model", "train"}),
            context=lcmd_context,
        ),
        Strategy(
            "gradsim",
            GradSimConfig,
            select_gradsim,
            ("mol_id",),
            "cosine of seeded projected loss gradients to the mean validation gradient, highest first",
            needs=frozenset({"model", "valid"}),
            context=gradsim_context,
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
    "NEEDS",
    "OUTPUT_COLUMNS",
    "REGISTRY",
    "BadgeConfig",
    "EglConfig",
    "GradSimConfig",
    "KCenterConfig",
    "LcmdConfig",
    "InfluenceSelectionConfig",
    "MaxMinConfig",
    "McDropoutConfig",
    "RandomConfig",
    "SelectionConfig",
    "SelectionContext",
    "SelectionInputs",
    "Strategy",
    "mc_dropout_predictions",
    "select_pool",
]
