"""The one metrics function of each task: regression (n, MSE, RMSE, MAE, R2, Spearman) and binary classification
(n, positives, ROC-AUC, PR-AUC, accuracy and balanced accuracy at 0.5, log loss, Brier), and `task_metrics`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

THRESHOLD = 0.5  # the probability at or above which a molecule is called positive (accuracy, balanced accuracy)


def regression_metrics(labels: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and predictions {p.shape} differ in shape")
    n = int(y.size)
    if n == 0:
        nan = float("nan")
        return {"n": 0, "mse": nan, "rmse": nan, "mae": nan, "r2": nan, "spearman": nan}
    err = p - y
    mse = float(np.mean(err**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan")
    if n > 1 and np.ptp(y) > 0 and np.ptp(p) > 0:
        from scipy.stats import spearmanr

        spearman = float(spearmanr(y, p).statistic)
    else:
        spearman = float("nan")
    return {"n": n, "mse": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(err))), "r2": r2,
            "spearman": spearman}


def classification_metrics(labels: Sequence[float], probabilities: Sequence[float]) -> dict[str, float]:
    """The metrics of 0/1 `labels` against probabilities of the positive class, keyed as
    `tasks.METRICS["classification"]`; ROC-AUC, PR-AUC (average precision) and balanced accuracy are NaN when one
    class is absent, every score NaN for no molecules."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} differ in shape")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("classification labels must be 0 or 1")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("probabilities must be finite and in [0, 1]")
    n, positives = int(y.size), int(y.sum())
    nan = float("nan")
    if n == 0:
        return {"n": 0, "n_positive": 0, "roc_auc": nan, "pr_auc": nan, "accuracy": nan,
                "balanced_accuracy": nan, "log_loss": nan, "brier": nan}
    called = p >= THRESHOLD
    positive = y == 1.0
    both = 0 < positives < n
    if both:
        recall_pos = float(np.mean(called[positive]))
        recall_neg = float(np.mean(~called[~positive]))
        balanced = (recall_pos + recall_neg) / 2
    else:
        balanced = nan
    eps = np.finfo(np.float64).eps  # log(0) guarded as scikit-learn does
    clipped = np.clip(p, eps, 1 - eps)
    log_loss = -float(np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))
    return {"n": n, "n_positive": positives, "roc_auc": _roc_auc(y, p) if both else nan,
            "pr_auc": _average_precision(y, p) if both else nan, "accuracy": float(np.mean(called == positive)),
            "balanced_accuracy": balanced, "log_loss": log_loss, "brier": float(np.mean((p - y) ** 2))}


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half): the Mann-Whitney
    U statistic from mid-ranks, over n_pos * n_neg."""
    from scipy.stats import rankdata

    ranks = rankdata(p)  # average ranks for ties
    n_pos = float(y.sum())
    n_neg = float(y.size) - n_pos
    return float((ranks[y == 1.0].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision: the precision at each distinct score threshold (high to low), weighted by the recall it
    adds (no interpolation)."""
    order = np.argsort(-p, kind="stable")
    scores, hits = p[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]  # cut after each distinct score
    true_pos = np.cumsum(hits)[last_of_each]
    precision = true_pos / (last_of_each + 1)
    recall = true_pos / hits.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def task_metrics(task: str, labels: Sequence[float], predictions: Sequence[float]) -> dict[str, float]:
    """The metrics of `task` (regression: predictions in label units; classification: probabilities)."""
    from molpeft_cli.tasks import REGRESSION, check_task

    if check_task(task) == REGRESSION:
        return regression_metrics(labels, predictions)
    return classification_metrics(labels, predictions)
