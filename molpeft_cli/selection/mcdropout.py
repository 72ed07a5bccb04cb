"""`mcdropout`: predictive uncertainty from Monte Carlo dropout; the most uncertain pool molecules first.

Only Dropout modules are switched to train mode (batch norm and the rest stay in eval), `passes` stochastic
forward passes run per pool batch with several passes stacked along the batch dimension, and
score = the standard deviation of the predictions over passes (`prediction_mean` keeps their mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, choose_top, selection_frame
from molpeft_cli.training.mc_dropout import dropout_only_train_mode, mc_dropout_predictions

__all__ = ["McDropoutConfig", "dropout_only_train_mode", "mc_dropout_predictions", "select_mcdropout"]

NAME = "mcdropout"


@dataclass
class McDropoutConfig(SelectionConfig):
    passes: int = field(default=100, metadata={"help": "stochastic forward passes per molecule"})
    seed: int = field(default=0, metadata={"help": "seed of the dropout masks"})
    forward_rows: int = field(
        default=512, metadata={"help": "rows per forward pass when passes are stacked (pool rows x passes)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.passes < 2:
            raise MolpeftError(f"passes must be >= 2 to measure a spread, got {self.passes}")
        if self.forward_rows < 1:
            raise MolpeftError(f"forward_rows must be >= 1, got {self.forward_rows}")
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(f"mcdropout threshold is a standard deviation (>= 0), got {self.threshold}")


def select_mcdropout(pool: pl.DataFrame, config: McDropoutConfig, context: SelectionContext) -> pl.DataFrame:
    if context.model is None or context.predict is None or context.batches is None:
        raise MolpeftError("strategy 'mcdropout' needs a model, a predict function and pool batches")
    mean, std = mc_dropout_predictions(
        context.model, context.predict, context.batches, config.passes, config.seed, config.forward_rows
    )
    if len(std) != pool.height:
        raise MolpeftError(f"MC dropout gave {len(std)} predictions for {pool.height} pool rows")
    order = choose_top(pool, std, config)
    return selection_frame(pool, order, std, NAME, extra={"prediction_mean": mean})
