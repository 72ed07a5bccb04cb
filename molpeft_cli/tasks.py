"""What a dataset's task is (regression, or binary classification) and what follows from it: how the task is
decided from the labels, the metrics each task reports, and its main metric. Every part of molpeft asks here
instead of branching on its own; the losses live in `training/`, the label mapping of raw files in `data/`.

A classification table's labels are 0.0 / 1.0 (float64, as every label column), 1 being the positive class.
"""

from __future__ import annotations

from collections.abc import Iterable

from molpeft_cli.errors import SettingError

REGRESSION, CLASSIFICATION = "regression", "classification"
TASKS = (REGRESSION, CLASSIFICATION)
TASK_CHOICES = ("auto", *TASKS)

# the metrics of each task, in the order tables show them; MSE-style columns are absent from a classification
# table (not NaN), and the reverse
METRICS: dict[str, tuple[str, ...]] = {
    REGRESSION: ("n", "mse", "rmse", "mae", "r2", "spearman"),
    CLASSIFICATION: ("n", "n_positive", "roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "log_loss", "brier"),
}
# the metric the report's matrix, differences and ratios are in; ROC-AUC for classification: threshold-free and
# insensitive to the class balance, so cells trained with different pools compare on the same test molecules
MAIN_METRIC = {REGRESSION: "mse", CLASSIFICATION: "roc_auc"}
HIGHER_IS_BETTER = {"mse": False, "rmse": False, "mae": False, "r2": True, "spearman": True, "roc_auc": True,
                    "pr_auc": True, "accuracy": True, "balanced_accuracy": True, "log_loss": False, "brier": False}
# the validation metric early stopping watches by default, and the ones it may watch instead
STOPPING_METRICS = {REGRESSION: ("mse",), CLASSIFICATION: ("log_loss", "roc_auc")}


def is_binary(labels: Iterable[float]) -> bool:
    """Exactly two distinct label values, 0 and 1 (nulls and NaN ignored)."""
    distinct = {float(v) for v in labels if v is not None and v == v}
    return distinct == {0.0, 1.0}


def detect_task(labels: Iterable[float]) -> str:
    """`auto`'s rule on a table's numeric labels: exactly the two values 0 and 1 -> classification, else regression.
    (A raw file's two label values of any spelling are mapped to 0/1 by `molpeft data` first.)"""
    return CLASSIFICATION if is_binary(labels) else REGRESSION


def resolve_task(requested: str, labels: Iterable[float], setting: str = "task") -> str:
    """The task for `requested` (auto, regression or classification) on these labels; classification needs 0/1
    labels (a `SettingError` naming `setting` otherwise)."""
    if requested not in TASK_CHOICES:
        raise SettingError(setting, f"unknown {{setting}} {requested!r}; choose one of {', '.join(TASK_CHOICES)}")
    labels = list(labels)
    if requested == "auto":
        return detect_task(labels)
    if requested == CLASSIFICATION and not is_binary(labels):
        distinct = sorted({float(v) for v in labels if v is not None and v == v})
        shown = ", ".join(f"{v:g}" for v in distinct[:5]) + (" ..." if len(distinct) > 5 else "")
        raise SettingError(setting, f"{{setting}} classification needs labels 0 and 1 (the positive class 1); these "
                           f"labels have {len(distinct)} distinct values ({shown}): map them with `molpeft data "
                           "--task classification`")
    return requested


def check_task(name: str, setting: str = "task") -> str:
    if name not in TASKS:
        raise SettingError(setting, f"unknown {{setting}} {name!r}; choose one of {', '.join(TASKS)}")
    return name
