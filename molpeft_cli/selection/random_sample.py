"""`random`: a seeded uniform choice of k pool molecules, the baseline (the original study's 185 of 300)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from molpeft_cli.errors import SettingError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, choose_top, selection_frame

if TYPE_CHECKING:
    import polars as pl

NAME = "random"


@dataclass
class RandomConfig(SelectionConfig):
    seed: int = field(default=0, metadata={"help": "random seed of the choice"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None:
            raise SettingError("k", "strategy 'random' takes {setting}, not a threshold")


def select_random(pool: pl.DataFrame, config: RandomConfig, context: SelectionContext) -> pl.DataFrame:
    """score = a uniform draw per molecule, made in mol_id order so the pool's row order does not matter."""
    import numpy as np
    import polars as pl

    by_id = np.argsort(pool["mol_id"].cast(pl.String).to_numpy(), kind="stable")
    keys = np.empty(pool.height)
    keys[by_id] = np.random.default_rng(config.seed).random(pool.height)
    return selection_frame(pool, choose_top(pool, keys, config), keys, NAME)
