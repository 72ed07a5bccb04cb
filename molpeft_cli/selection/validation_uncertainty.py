"""How informative an MC-dropout uncertainty is, measured on labelled validation molecules before it is used to
select: regression, Spearman of the sd against the absolute error of the MC mean, the coverage of mean +- 1.96 sd
and the interval calibration curve (observed fraction inside mean +- z sd for nominal levels 0.1 .. 0.9 and 0.95,
z the normal quantile); classification, Spearman of the uncertainty (BALD, entropy or std) against |p - y| and a
reliability table (10 equal bins of the mean probability). The manifest key is `validation_uncertainty`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from molpeft_cli.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import numpy as np

KEY = "validation_uncertainty"
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BINS = 10


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho, None when it is undefined (fewer than 3 rows, or a constant column)."""
    import numpy as np
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def uncertainty_check(task: str, mean: np.ndarray, uncertainty: np.ndarray, labels: np.ndarray,
                      measure: str) -> dict[str, Any]:
    """The record of the module docstring for validation rows' MC mean (classification: mean probability), their
    uncertainty (`measure`: its name) and labels."""
    import numpy as np
    from scipy.stats import norm

    mean, uncertainty, labels = (np.asarray(a, dtype=np.float64) for a in (mean, uncertainty, labels))
    error = np.abs(mean - labels)
    record: dict[str, Any] = {"n": int(len(labels)), "uncertainty": measure,
                              "spearman": _spearman(uncertainty, error)}
    if task == CLASSIFICATION:
        which = np.minimum((mean * BINS).astype(np.int64), BINS - 1)
        record["reliability"] = [
            {"bin": b, "mean_predicted": float(mean[which == b].mean()) if (which == b).any() else None,
             "observed": float(labels[which == b].mean()) if (which == b).any() else None,
             "count": int((which == b).sum())}
            for b in range(BINS)]
        return record
    record["coverage_95"] = float(np.mean(error <= 1.96 * uncertainty))
    record["calibration"] = [{"level": level, "observed": float(np.mean(error <= norm.ppf(0.5 + level / 2)
                                                                        * uncertainty))}
                             for level in LEVELS]
    return record


def describe(record: dict[str, Any]) -> str:
    """The one log line of a check."""
    rho = "undefined" if record["spearman"] is None else f"{record['spearman']:+.3f}"
    target = "|p - y|" if "reliability" in record else "|error|"
    line = f"{record['n']} validation molecules: Spearman({record['uncertainty']}, {target}) {rho}"
    if "coverage_95" in record:
        line += f"; {100 * record['coverage_95']:.0f}% within +-1.96 sd (95% expected)"
    return line
