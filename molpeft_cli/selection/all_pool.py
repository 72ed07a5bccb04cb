"""The `all` strategy: every pool molecule (that survived the leakage guard) joins training, in pool order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from molpeft_cli.selection.base import SelectionConfig, SelectionContext, selection_frame

NAME = "all"


@dataclass
class AllConfig(SelectionConfig):
    """k and threshold are ignored: everything is chosen."""


def select_all(pool: pl.DataFrame, config: AllConfig, context: SelectionContext) -> pl.DataFrame:
    return selection_frame(pool, np.arange(pool.height), np.full(pool.height, np.nan), NAME)
