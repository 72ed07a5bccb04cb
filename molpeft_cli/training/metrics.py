"""The one regression-metrics function: n, MSE, RMSE, MAE, R2, Spearman."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


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
