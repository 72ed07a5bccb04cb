"""`maxmin`: structurally diverse picks with RDKit's lazy MaxMin picker on Morgan fingerprints.

Optionally the training molecules seed the picker (firstPicks), so each pick is also far from the training
set. score = Tanimoto distance from the pick to the nearest earlier pick (or training molecule) at the time it
was picked; null for a first pick with nothing to compare to. The rank is the pick order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs, capped_k, selection_frame

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

NAME = "maxmin"


@dataclass
class MaxMinConfig(SelectionConfig):
    seed: int = field(default=0, metadata={"help": "seed of the picker's random first pick"})
    radius: int = field(default=2, metadata={"help": "Morgan fingerprint radius"})
    n_bits: int = field(default=2048, metadata={"help": "Morgan fingerprint length"})
    far_from_train: bool = field(
        default=True, metadata={"help": "seed the picker with the training molecules (when given)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise MolpeftError(f"maxmin threshold is a Tanimoto distance in [0, 1], got {self.threshold}")
        if self.radius < 0 or self.n_bits < 1:
            raise MolpeftError("Morgan radius must be >= 0 and n_bits >= 1")
        if self.seed < 0:
            raise MolpeftError(f"seed must be >= 0, got {self.seed}")


def select_maxmin(pool: pl.DataFrame, config: MaxMinConfig, context: SelectionContext) -> pl.DataFrame:
    from rdkit import DataStructs
    from rdkit.SimDivFilters import MaxMinPicker

    pool_sorted = pool.sort(
        "mol_id"
    )  # the picker depends on input order; mol_id order makes it a set function
    pool_fps = _fingerprints(pool_sorted["smiles_canonical"].to_list(), pool_sorted["mol_id"], config)
    train = list(context.train_smiles or []) if config.far_from_train else []
    train_fps = _fingerprints(train, None, config)
    fps = train_fps + pool_fps
    n_train = len(train_fps)
    first = list(range(n_train))
    picker = MaxMinPicker()
    if config.threshold is None:
        k = capped_k(config.k, len(pool_fps), "pool molecules")
        picks = picker.LazyBitVectorPick(fps, len(fps), n_train + k, first, config.seed)
    else:
        picks, _ = picker.LazyBitVectorPickWithThreshold(
            fps, len(fps), len(fps), config.threshold, first, config.seed
        )
    order = [p - n_train for p in picks if p >= n_train]
    scores = _distance_at_pick(pool_fps, train_fps, order, DataStructs)
    return selection_frame(pool_sorted, order, scores, NAME)


def maxmin_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The train split's SMILES when a split table is given (optional: without it the picks are only far from each
    other)."""
    import polars as pl

    if inputs.train is None:
        return inputs.pool, SelectionContext()
    if "split" not in inputs.train.columns:
        raise SettingError("train", "{setting} needs a split table (with a `split` column)")
    return inputs.pool, SelectionContext(
        train_smiles=inputs.train.filter(pl.col("split") == "train")["smiles_canonical"].to_list()
    )


def _fingerprints(smiles: Sequence[str], mol_ids: pl.Series | None, config: MaxMinConfig) -> list:
    from rdkit import Chem

    from molpeft_cli.chem.fingerprints import morgan_fingerprints

    bad = [i for i, s in enumerate(smiles) if not s or Chem.MolFromSmiles(s) is None]
    if bad:
        where = "pool" if mol_ids is not None else "training"
        names = [str(mol_ids[i]) if mol_ids is not None else repr(smiles[i]) for i in bad[:5]]
        raise MolpeftError(f"{len(bad)} {where} SMILES cannot be parsed by RDKit: {', '.join(names)}")
    return morgan_fingerprints(list(smiles), radius=config.radius, n_bits=config.n_bits)


def _distance_at_pick(pool_fps: list, train_fps: list, order: list[int], datastructs) -> np.ndarray:
    import numpy as np

    nearest = np.full(len(pool_fps), np.inf)
    for fp in train_fps:
        nearest = np.minimum(nearest, 1.0 - np.array(datastructs.BulkTanimotoSimilarity(fp, pool_fps)))
    scores = np.full(len(pool_fps), np.nan)
    for index in order:
        scores[index] = nearest[index] if np.isfinite(nearest[index]) else np.nan
        nearest = np.minimum(
            nearest, 1.0 - np.array(datastructs.BulkTanimotoSimilarity(pool_fps[index], pool_fps))
        )
    return scores
