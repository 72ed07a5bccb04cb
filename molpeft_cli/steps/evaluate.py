"""The `eval` step: predictions and metrics of a fine-tuned checkpoint on one split of a table, in the checkpoint's
task (regression; binary classification: probabilities and ROC-AUC, PR-AUC, accuracy, log loss, Brier)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, check_not_empty, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import CLASSIFICATION

SPLIT_CHOICES = ("train", "valid", "test", "all")
log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    command: ClassVar[str] = "eval"

    checkpoint: str = argument(help="Fine-tuned checkpoint directory.", metavar="CKPT")
    data: str = argument(help="Split table (or molecule table with --split all).", metavar="DATA")
    output: str = option(help="Predictions table ('-' for stdout).", flags=("--output", "-o"))
    split: str = option("test", "train | valid | test | all.")
    metrics: str | None = option(None, "Write the metrics here as a one-row table.")
    run: str | None = option(None, "Run name in the metrics (default: checkpoint folder).")
    truncate: bool = option(True, "Cut molecules longer than the model's positions to fit (listed on stderr); "
                            "off: fail on them.", flags=("--truncate/--no-truncate",))
    variant: str = option("", "Label for the training route, e.g. two-stage or direct.")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("config", "checkpoint", "data", "output", "metrics", "run"))
        if self.split not in SPLIT_CHOICES:
            raise SettingError("split", f"unknown {{setting}} {self.split!r}; choose one of "
                               f"{', '.join(SPLIT_CHOICES)}")


@dataclass
class EvalResult:
    # polars.DataFrame: mol_id, split, label, prediction; classification: mol_id, split, label, probability (of the
    # positive class) and prediction (the same value, for code that reads `prediction`)
    predictions: Any
    # the metrics row: run, split, the task's metrics (tasks.METRICS: n, mse, rmse, mae, r2, spearman; for
    # classification a `task` column and n, n_positive, roc_auc, pr_auc, accuracy, ...), params, seed, ...
    metrics: dict[str, Any]


def evaluate(config: EvalConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> EvalResult:
    """Predict one split with a checkpoint; the metrics of its task on the labelled rows (regression: n, MSE,
    RMSE, MAE, R2, Spearman; classification: `tasks.METRICS["classification"]`)."""
    from pathlib import Path

    import polars as pl

    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import InputError
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.metrics import task_metrics
    from molpeft_cli.training.prediction import predict_molecules

    c = config
    check_step_outputs(c, {"output": False, "metrics": False}, ("checkpoint", "data", "config"))
    runtime.apply_threads()
    recorder = Recorder("eval", dict(split=c.split, truncate=c.truncate, variant=c.variant), None,
                        {"checkpoint": c.checkpoint, "data": c.data, "config": c.config}, argv, config=c)
    ft = load_finetuned(c.checkpoint, runtime.device)
    table = load_molecules(c.data, "data", unlabeled=True)  # unlabelled rows are counted below, per split
    if c.split != "all":
        if "split" not in table.columns:
            raise SettingError("split", f"{c.data} has no `split` column; use {{setting}} all or run the split step")
        table = table.filter(pl.col("split") == c.split)
    else:
        table = table.with_columns(pl.col("split") if "split" in table.columns else pl.lit("all").alias("split"))
    if table.height == 0:
        raise InputError(f"no molecules in split {c.split!r} of {c.data}")
    unlabelled = table.filter(pl.col("label").is_null()).height
    if unlabelled == table.height:
        raise InputError(f"split {c.split!r} of {c.data} has no labels, so there is nothing to score; use the "
                         "predict step for unlabelled molecules")
    if unlabelled:
        log.warning(f"{unlabelled} of {table.height} molecules in split {c.split!r} have no label: predicted, "
                    "but left out of the metrics")
    check_labels_fit(ft.task, table.filter(pl.col("label").is_not_null())["label"].to_list(), c.checkpoint, c.data)
    preds = predict_molecules(ft, table["smiles_canonical"].to_list(), table["mol_id"].to_list(),
                              truncate=c.truncate)
    out = table.select("mol_id", "split", "label")
    if ft.task == CLASSIFICATION:
        out = out.with_columns(pl.Series("probability", preds))
    out = out.with_columns(pl.Series("prediction", preds))
    labelled = out.filter(pl.col("label").is_not_null())
    scores = task_metrics(ft.task, labelled["label"].to_numpy(), labelled["prediction"].to_numpy())
    meta = ft.meta
    task_column = {"task": ft.task} if ft.task == CLASSIFICATION else {}
    row = {"run": c.run or Path(c.checkpoint).name, "split": c.split, **task_column, **scores,
           "trainable_params": meta["trainable_params"], "total_params": meta["total_params"],
           "train_seconds": meta["train_seconds"], "seed": meta["seed"], "peft": meta["peft"],
           "selection": meta["selection"], "model": meta["base_model"]["ref"], "variant": c.variant,
           "converged": meta.get("converged"), "best_epoch": meta.get("best_epoch")}
    write_table(out, c.output)
    if c.metrics:
        write_table(pl.DataFrame([row]), c.metrics)
        recorder.write(c.metrics, extra={"metrics": row})
    recorder.write(c.output, extra={"metrics": row})
    return EvalResult(out, row)


def check_labels_fit(task: str, labels: list[float], checkpoint: str, data: str) -> None:
    """Refuse labels of the other task: continuous labels for a classification checkpoint, 0/1 ones for a
    regression checkpoint."""
    from molpeft_cli.errors import InputError
    from molpeft_cli.tasks import is_binary

    if task == CLASSIFICATION:
        other = sorted({v for v in labels if v not in (0.0, 1.0)})
        if other:
            raise InputError(f"{checkpoint} is a classification checkpoint, but {data} has labels other than 0/1 "
                             f"({len(other)} distinct values such as {other[0]:g}): a regression endpoint; "
                             "evaluate it with a regression checkpoint")
    elif is_binary(labels):
        raise InputError(f"{checkpoint} is a regression checkpoint, but the labels of {data} are 0/1 (a "
                         "classification endpoint); evaluate it with a classification checkpoint (the finetune step "
                         "with task classification)")
