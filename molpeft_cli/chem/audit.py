"""Leakage audit: pool molecules that are the same compound as a dataset molecule.

Two levels: the same full InChIKey (identical compound), and the same first InChIKey block (same skeleton,
ignoring stereochemistry). Every collision is listed with both labels and the split it collides with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from molpeft_cli.chem.standardize import skeleton_key

AUDIT_COLUMNS = [
    "pool_mol_id", "pool_smiles", "pool_label", "match", "split",
    "dataset_mol_id", "dataset_smiles", "dataset_label", "label_difference",
]


@dataclass
class AuditSummary:
    pool_size: int
    same_inchikey: int  # pool molecules with an identical compound in the dataset
    same_skeleton: int  # pool molecules sharing the stereo-free skeleton (includes same_inchikey)
    by_split: dict[str, dict[str, int]]
    label_conflicts: int  # same-compound pairs whose labels differ by more than the tolerance

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def audit_pool(dataset: pl.DataFrame, pool: pl.DataFrame, tolerance: float = 0.3) -> tuple[pl.DataFrame, AuditSummary]:
    """Return one row per (pool molecule, colliding dataset molecule) and the summary counts."""
    if "split" not in dataset.columns:
        dataset = dataset.with_columns(pl.lit("all").alias("split"))
    left = pool.select(
        pl.col("mol_id").alias("pool_mol_id"),
        pl.col("smiles_canonical").alias("pool_smiles"),
        pl.col("label").alias("pool_label"),
        pl.col("inchikey").alias("pool_inchikey"),
    ).with_columns(pl.col("pool_inchikey").map_elements(skeleton_key, return_dtype=pl.String).alias("skeleton"))
    right = dataset.select(
        pl.col("mol_id").alias("dataset_mol_id"),
        pl.col("smiles_canonical").alias("dataset_smiles"),
        pl.col("label").alias("dataset_label"),
        pl.col("inchikey").alias("dataset_inchikey"),
        pl.col("split"),
    ).with_columns(
        pl.col("dataset_inchikey").map_elements(skeleton_key, return_dtype=pl.String).alias("skeleton")
    )
    hits = left.join(right, on="skeleton", how="inner").with_columns(
        pl.when(pl.col("pool_inchikey") == pl.col("dataset_inchikey"))
        .then(pl.lit("inchikey"))
        .otherwise(pl.lit("skeleton"))
        .alias("match"),
        (pl.col("pool_label") - pl.col("dataset_label")).alias("label_difference"),
    )
    hits = hits.select(AUDIT_COLUMNS).sort(["match", "pool_mol_id", "dataset_mol_id"])
    exact = hits.filter(pl.col("match") == "inchikey")
    by_split: dict[str, dict[str, int]] = {}
    for split in sorted(set(hits["split"].to_list())):
        part = hits.filter(pl.col("split") == split)
        by_split[split] = {
            "same_inchikey": part.filter(pl.col("match") == "inchikey")["pool_mol_id"].n_unique(),
            "same_skeleton": part["pool_mol_id"].n_unique(),
        }
    conflicts = exact.filter(pl.col("label_difference").abs() > tolerance)
    summary = AuditSummary(
        pool_size=pool.height,
        same_inchikey=exact["pool_mol_id"].n_unique(),
        same_skeleton=hits["pool_mol_id"].n_unique(),
        by_split=by_split,
        label_conflicts=conflicts.height,
    )
    return hits, summary


def leaking_ids(split: pl.DataFrame, table: pl.DataFrame, splits: Sequence[str]) -> tuple[list[str], AuditSummary]:
    """The leakage guard of `finetune` and `select`: the mol_ids of `table` (sorted) that are the same compound
    (same InChIKey, or same stereo-free skeleton) as a molecule in `split`'s `splits`, and the audit's summary."""
    hits, summary = audit_pool(split.filter(pl.col("split").is_in(list(splits))), table)
    return sorted(set(hits["pool_mol_id"].to_list())), summary


def label_mismatch(dataset: pl.DataFrame, pool: pl.DataFrame) -> tuple[str | None, dict | None]:
    """Whether the pool's labels look like the dataset's property: (an error when the two tables are of different
    tasks (0/1 labels against continuous ones), a warning record when a regression pool's median label lies
    outside the dataset's 1st-99th percentile or a binary pool holds one class only); (None, None) when they fit
    or a table has no labels. Another task or unit usually means another property."""
    import numpy as np

    from molpeft_cli.tasks import CLASSIFICATION, detect_task

    ours, theirs = (t["label"].drop_nulls().drop_nans().to_numpy() for t in (dataset, pool))
    if not len(ours) or not len(theirs):
        return None, None
    ours_task, theirs_task = detect_task(ours), detect_task(theirs)
    if ours_task == CLASSIFICATION and set(np.unique(theirs)) <= {0.0, 1.0}:
        theirs_task = CLASSIFICATION  # a pool of one class is still 0/1 labels
    if ours_task != theirs_task:
        return (f"the pool's labels are {theirs_task} labels but the dataset's are {ours_task} labels: they are "
                "probably another property; give a pool labelled for the dataset's endpoint"), None
    if ours_task == CLASSIFICATION:
        if len(np.unique(theirs)) < 2:
            return None, {"pool_classes": [float(v) for v in np.unique(theirs)], "n": int(len(theirs))}
        return None, None
    low, high = (float(v) for v in np.quantile(ours, [0.01, 0.99]))
    median = float(np.median(theirs))
    if low <= median <= high:
        return None, None
    return None, {"pool_median": median, "dataset_p1": low, "dataset_p99": high}
