"""The `all` strategy: every pool molecule (that survived the leakage guard) joins training, in pool order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.selection.base import SelectionConfig, SelectionContext, selection_frame

if TYPE_CHECKING:
    import polars as pl

NAME = "all"


@dataclass
class AllConfig(SelectionConfig):
    """k and threshold are ignored: everything is chosen."""


def select_all(pool: pl.DataFrame, config: AllConfig, context: SelectionContext) -> pl.DataFrame:
    import numpy as np

    return selection_frame(pool, np.arange(pool.height), np.full(pool.height, np.nan), NAME)
