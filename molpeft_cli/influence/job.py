"""Influence scores of a pool from files: the library call behind `molpeft influence`.

The loss is the fine-tuning loss of the checkpoint's task (influence/losses.py): regression, MSE on labels
standardised with the checkpoint's training statistics; classification, binary cross-entropy on the logit against
0/1 labels (the training side weighted by the checkpoint's pos_weight); the model in eval mode (dropout off).
Targets are the validation split unless --target test is asked for (then the manifest records it as leakage).
score > 0: adding the molecule is estimated to lower the target loss.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import torch

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.influence.regression import regression_batch_loss
from molpeft_cli.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

__all__ = ["labelled_batches", "pool_influence", "regression_batch_loss", "regression_loss"]

regression_loss = regression_batch_loss  # the name bench/bench_selection.py imports; new code: regression_batch_loss


def labelled_batches(tokenizer, table: pl.DataFrame, label_mean: float, label_std: float, batch_size: int,
                     truncate: bool, shuffle: bool, seed: int, what: str, featurize=None) -> list[dict]:
    """Batch dicts of a labelled table (`featurize(smiles)`: the molecule features a head with them needs)."""
    import polars as pl

    from molpeft_cli.training.batching import batch_dicts
    from molpeft_cli.training.regression import encode

    if table.height == 0:
        raise MolpeftError(f"the {what} set is empty")
    if table["label"].null_count():
        raise MolpeftError(f"{table['label'].null_count()} {what} molecules have no label; influence needs labels")
    enc = encode(tokenizer, table["smiles_canonical"].to_list(), truncate, ids=table["mol_id"].to_list())
    z = (table["label"].cast(pl.Float64).to_numpy() - label_mean) / label_std
    # shuffled training minibatches; otherwise pool order, so scores line up with rows
    features = None if featurize is None else featurize(table["smiles_canonical"].to_list())
    return batch_dicts(enc.input_ids, batch_size, tokenizer.pad_token_id, labels=z, features=features,
                       shuffle=shuffle, seed=seed)


def pool_influence(checkpoint: str, split: pl.DataFrame, pool: pl.DataFrame, target: str, scope: str,
                   solver, batch_size: int, truncate: bool, seed: int, chunk_size: int | None = None,
                   device: str = "auto"):
    import polars as pl

    from molpeft_cli.influence import influence_scores
    from molpeft_cli.training.checkpoint import load_finetuned

    if "split" not in split.columns:
        raise SettingError("train", "{setting} needs a split table (with a `split` column)")
    if target == "test":
        log.warning("target test: influence computed against the TEST split. Selections made from it leak the test "
                    "set into training; this is recorded in the manifest and marked in reports.")
    from molpeft_cli.influence.losses import checkpoint_pos_weight, task_objective

    ft = load_finetuned(checkpoint, device)
    task = task_objective(ft.task, checkpoint_pos_weight(ft.meta))
    if task.task == CLASSIFICATION:
        for table, what in ((split, "split"), (pool, "pool")):
            check_binary_labels(table, what)
        weight = f", positives weighted {task.pos_weight:g} in the training loss" if task.pos_weight else ""
        log.info(f"classification checkpoint: influence of the binary cross-entropy on the logit{weight}; "
                 f"target: the {target} split's log loss")
    scale = (ft.label_mean, ft.label_std)
    torch.manual_seed(seed)
    train = labelled_batches(ft.tokenizer, split.filter(pl.col("split") == "train"), *scale, batch_size, truncate,
                             True, seed, "training", ft.featurize)
    targets = labelled_batches(ft.tokenizer, split.filter(pl.col("split") == target), *scale, batch_size,
                               truncate, False, seed, target, ft.featurize)
    pool_batches = labelled_batches(ft.tokenizer, pool, *scale, batch_size, truncate, False, seed, "pool",
                                    ft.featurize)
    result = influence_scores(ft.model, task.loss, train, targets, pool_batches, scope=scope, solver=solver,
                              chunk_size=chunk_size, output_fn=task.output, target_loss_fn=task.target_loss,
                              output_curvature=task.curvature)
    result.task = task.task
    if not np.all(np.isfinite(result.scores)):
        raise SettingError("damping", "influence scores are not finite; raise {setting} or lower {step}")
    return result


def check_binary_labels(table: pl.DataFrame, what: str) -> None:
    """A classification checkpoint's molecules must have labels 0 and 1 (a MolpeftError naming the others)."""
    import polars as pl

    other = table.filter(pl.col("label").is_not_null() & ~pl.col("label").is_in([0.0, 1.0]))
    if other.height:
        shown = ", ".join(f"{v:g}" for v in other["label"].unique().sort().head(5).to_list())
        raise MolpeftError(f"the checkpoint is a classification one (labels 0/1) but {other.height} {what} "
                           f"molecules have other labels ({shown}); map them with `molpeft data --task "
                           "classification`, or use a regression checkpoint")
