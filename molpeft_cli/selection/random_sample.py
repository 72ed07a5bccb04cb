"""`random`: a seeded uniform choice of k pool molecules, the baseline (the original study's 185 of 300)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, choose_top, selection_frame

NAME = "random"


@dataclass
class RandomConfig(SelectionConfig):
    seed: int = field(default=0, metadata={"help": "random seed of the choice"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None:
            raise MolpeftError("strategy 'random' takes -k, not a threshold")


def select_random(pool: pl.DataFrame, config: RandomConfig, context: SelectionContext) -> pl.DataFrame:
    """score = a uniform draw per molecule, made in mol_id order so the pool's row order does not matter."""
    by_id = np.argsort(pool["mol_id"].cast(pl.String).to_numpy(), kind="stable")
    keys = np.empty(pool.height)
    keys[by_id] = np.random.default_rng(config.seed).random(pool.height)
    return selection_frame(pool, choose_top(pool, keys, config), keys, NAME)
