"""One sweep trial: fine-tune a fresh copy of the base model with one configuration and seed, keep the scores.

Only the train and valid rows of the split table are read; the test rows are dropped before anything else, so a
sweep can never see them. Nothing is saved but the scores and the training log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# what a trial is scored by, per task: lower is better for both
SCORES = {"regression": "valid_mse", "classification": "valid_log_loss"}


@dataclass(frozen=True)
class TrialSpec:
    split_path: str
    model_path: str  # a resolved base-model directory
    options: dict[str, Any]  # FinetuneOptions fields, fully resolved
    seed: int
    threads: int | None = None  # set in worker processes
    device: str = "auto"


def train_valid_sets(split_path: str):
    """The training and validation sets of a split table (test rows never leave this function)."""
    import polars as pl

    from molpeft_cli.data.tables import read_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.training.regression import LabelledSet

    table = read_table(split_path)
    missing = [c for c in ("mol_id", "smiles_canonical", "label", "split") if c not in table.columns]
    if missing:
        raise MolpeftError(f"{split_path} lacks {', '.join(missing)}; tune takes a split table from `molpeft split`")
    table = table.filter(pl.col("split").is_in(["train", "valid"]))
    return (LabelledSet.from_table(table.filter(pl.col("split") == "train")),
            LabelledSet.from_table(table.filter(pl.col("split") == "valid")))


def run_trial(spec: TrialSpec) -> dict[str, Any]:
    """Train one configuration; its score (`SCORES[task]`: the validation MSE, or for classification the validation
    log loss, at the epoch early stopping chose), epochs, convergence, time and per-epoch log."""
    import logging

    import torch

    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.model.loading import load_pretrained
    from molpeft_cli.settings import apply_threads
    from molpeft_cli.training.checkpoint import config_overrides
    from molpeft_cli.training.options import FinetuneOptions
    from molpeft_cli.training.regression import finetune_supervised, with_features

    apply_threads(spec.threads)  # a worker process: the sweep's share of the threads
    options = FinetuneOptions(**spec.options)
    train, valid = train_valid_sets(spec.split_path)
    library = logging.getLogger("molpeft_cli")
    level = library.level
    library.setLevel(logging.ERROR)  # the base model's head notes and per-trial warnings would repeat every trial
    try:
        torch.manual_seed(spec.seed)  # the new head's initialisation, as in `molpeft finetune`
        features, (train, valid) = with_features(options.features, train.smiles, train, valid)
        loaded = load_pretrained(spec.model_path, "regression", config_overrides=config_overrides(
            spec.options, 0 if features is None else features.dim))
        model = REGISTRY[options.peft].prepare(loaded.model, spec.options)
        result = finetune_supervised(model, loaded.tokenizer, options, train, valid, spec.seed, device=spec.device)
    finally:
        library.setLevel(level)
    if result.task == "regression":
        score = result.best_valid_mse
    else:
        best = result.log.row(result.best_epoch - 1, named=True)  # the log has one row per epoch from 1
        score = best["valid_log_loss"]
    return {SCORES[result.task]: score, "best_epoch": result.best_epoch, "epochs": result.epochs_run,
            "converged": result.converged, "train_seconds": result.train_seconds,
            "log": result.log.to_dicts()}
