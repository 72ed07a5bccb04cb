"""Carve a pool of whole scaffold groups out of a molecule table, so a dataset with no external pool still gives
every selection strategy something to choose from, with no scaffold shared between the pool and the rest."""

from __future__ import annotations

import random

import polars as pl

from molpeft_cli.chem.scaffolds import murcko_scaffolds
from molpeft_cli.errors import MolpeftError


def carve_pool(table: pl.DataFrame, n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rest, pool): seeded whole-scaffold groups join the pool until it holds `n` molecules (a group that would
    overshoot is skipped, so the pool has exactly n unless no combination fits; then it is at most n)."""
    if n < 1 or n >= table.height:
        raise MolpeftError(f"the pool size must be between 1 and {table.height - 1}, got {n}")
    scaffolds = murcko_scaffolds(table["smiles_canonical"].to_list())
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(scaffolds):
        groups.setdefault(s, []).append(i)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    chosen: list[int] = []
    for key in keys:
        members = groups[key]
        if len(chosen) + len(members) <= n:
            chosen.extend(members)
        if len(chosen) == n:
            break
    mask = pl.Series([False] * table.height)
    mask[chosen] = True
    pool = table.filter(mask).with_columns(pl.lit("pool").alias("source"))
    rest = table.filter(~mask)
    return rest, pool
