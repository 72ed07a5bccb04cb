"""`influence`: keep pool molecules with positive influence scores (estimated to lower the validation
loss), highest first; scores come from `molpeft influence` (sign convention: molpeft_cli.influence)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import (
    SelectionConfig,
    SelectionContext,
    SelectionInputs,
    choose_top,
    selection_frame,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

log = logging.getLogger(__name__)

NAME = "influence"


@dataclass
class InfluenceSelectionConfig(SelectionConfig):
    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(
                f"influence keeps positive scores only; threshold must be >= 0, got {self.threshold}"
            )


def select_influence(pool: pl.DataFrame, config: InfluenceSelectionConfig, context: SelectionContext) -> pl.DataFrame:
    scores = _pool_scores(pool, context.scores)
    positive = scores > 0
    log.info(f"{int(positive.sum())} of {pool.height} pool molecules have a positive influence score")
    order = choose_top(pool, scores, config, eligible=positive)
    return selection_frame(pool, order, scores, NAME)


def influence_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The scores table from the influence step (required)."""
    return inputs.pool, SelectionContext(scores=inputs.require("scores", NAME))


def _pool_scores(pool: pl.DataFrame, scores: pl.DataFrame | None) -> np.ndarray:
    import polars as pl

    from molpeft_cli.data.tables import require_columns

    if scores is None:
        if "score" not in pool.columns:
            raise MolpeftError("strategy 'influence' needs scores: a `score` column or a scores table")
        values = pool["score"]
    else:
        require_columns(scores, ["mol_id", "score"], "scores table")
        joined = pool.select("mol_id").join(
            scores.select("mol_id", "score").unique("mol_id", keep="first"), on="mol_id", how="left"
        )
        values = joined["score"]
    missing = values.is_null().sum()
    if missing:
        raise MolpeftError(f"{missing} pool molecules have no influence score; score this pool first")
    return values.cast(pl.Float64).to_numpy()
