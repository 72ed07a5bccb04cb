"""The check of influence scores against retraining: the linear datamodeling score (LDS; Park et al. 2023).

M random subsets S_j of the pool (each a `fraction` of it) are drawn; for each, the fine-tuned model is trained
on, from its own weights (the same starting point every time), for `epochs` epochs on train + S_j with the same
seed, label scale and the checkpoint's own fine-tuning recipe (its AdamW groups, weight decay, warmup, clipping;
training rows batched identically in every run, see influence/retraining.py), and the validation loss is measured.
The measured change is L_valid(train + S_j) - L_valid(train alone, trained the same way); the predicted change is
the first-order influence sum -sum_{z in S_j} score(z) / n_train. LDS = Spearman(predicted, measured) over the M
subsets, with a percentile bootstrap CI over subsets. One retraining set serves every scores table (scope, solver)
compared.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from molpeft_cli.errors import MolpeftError, SettingError

if TYPE_CHECKING:
    from molpeft_cli.influence.retraining import Retraining

# the estimates' minimum samples: the LDS is a rank correlation over subsets (3 give it at all, and it can then
# only be -1, -0.5, 0.5 or 1); its bootstrap interval over fewer than MIN_INTERVAL_SUBSETS subsets resamples a
# handful of points and comes out as [1, 1], so below that the interval is not computed (NaN, "n/a" in the report)
MIN_LDS_SUBSETS = 3
MIN_INTERVAL_SUBSETS = 10
log = logging.getLogger(__name__)

CHECK_COLUMNS: dict = {  # polars dtypes by name, so this module needs no polars at import
    "scores": "String", "scope": "String", "solver": "String", "damping": "Float64", "n_params": "Int64",
    "converged": "Boolean", "lds": "Float64", "ci_low": "Float64", "ci_high": "Float64", "subsets": "Int64",
    "fraction": "Float64", "epochs": "Int64",
}


@dataclass
class CheckConfig:
    subsets: int = field(default=20, metadata={"help": "M: random pool subsets retrained"})
    fraction: float = field(default=0.5, metadata={"help": "fraction of the pool in each subset"})
    epochs: int = field(default=1, metadata={"help": "epochs of training from the checkpoint per subset"})
    lr: float | None = field(default=None, metadata={"help": "learning rate (default: the checkpoint's)"})
    bootstrap: int = field(default=2000, metadata={"help": "bootstrap resamples of the subsets for the CI"})
    seed: int = field(default=0, metadata={"help": "seed of the subsets, the training order and the bootstrap"})

    def __post_init__(self) -> None:
        if self.subsets < MIN_LDS_SUBSETS:
            raise SettingError("subsets", f"{{setting}} must be >= {MIN_LDS_SUBSETS} (a rank correlation needs "
                               f"them; {MIN_INTERVAL_SUBSETS} or more for its confidence interval), got "
                               f"{self.subsets}")
        if not 0 < self.fraction < 1:
            raise SettingError("fraction", f"{{setting}} must be in (0, 1), got {self.fraction}")
        if self.epochs < 1:
            raise SettingError("epochs", f"{{setting}} must be >= 1, got {self.epochs}")
        if self.lr is not None and not self.lr > 0:
            raise SettingError("lr", f"{{setting}} must be > 0, got {self.lr}")
        if self.bootstrap < 100:
            raise SettingError("bootstrap", f"{{setting}} must be >= 100, got {self.bootstrap}")

    def to_dict(self) -> dict:
        return asdict(self)


def draw_subsets(n_pool: int, subsets: int, fraction: float, seed: int) -> np.ndarray:
    """(M, n_pool) boolean membership; each subset holds round(fraction * n_pool) molecules (at least 1)."""
    size = max(1, round(fraction * n_pool))
    if size >= n_pool:
        raise SettingError("fraction", f"a subset of {size} of {n_pool} pool molecules leaves nothing out; lower "
                           "{setting}")
    rng = np.random.default_rng(seed)
    members = np.zeros((subsets, n_pool), dtype=bool)
    for j in range(subsets):
        members[j, rng.choice(n_pool, size=size, replace=False)] = True
    return members


def predicted_changes(scores: np.ndarray, members: np.ndarray, n_train: int) -> np.ndarray:
    """First-order change of the validation loss when each subset is added: -sum of its scores / n_train."""
    return -(members.astype(np.float64) @ np.asarray(scores, dtype=np.float64)) / n_train


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y)[0])


def lds(predicted: np.ndarray, measured: np.ndarray, bootstrap: int = 2000, seed: int = 0,
        level: float = 0.95) -> tuple[float, float, float]:
    """(LDS, CI low, CI high): Spearman of predicted vs measured changes, percentile bootstrap over subsets."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    if predicted.shape != measured.shape or predicted.ndim != 1:
        raise MolpeftError("predicted and measured changes must be 1-D and of the same length")
    value = spearman(predicted, measured)
    rng = np.random.default_rng(seed)
    m = len(predicted)
    draws = []
    for _ in range(bootstrap):
        idx = rng.integers(0, m, m)
        rho = spearman(predicted[idx], measured[idx])
        if math.isfinite(rho):
            draws.append(rho)
    if not draws:
        return value, float("nan"), float("nan")
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return value, float(low), float(high)

def check_rows(retraining: Retraining, scores: dict[str, np.ndarray], settings: dict[str, dict],
               config: CheckConfig) -> list[dict]:
    """One row per scores table: its setting, LDS and CI, and the check's own settings."""
    rows = []
    m = len(retraining.measured)
    if m < MIN_INTERVAL_SUBSETS:
        log.warning(SettingError(
            "subsets", f"the LDS is a rank correlation over {m} subsets: too few for a confidence interval (it "
            f"needs {MIN_INTERVAL_SUBSETS}), so none is given (NaN); the value itself is coarse; use {{setting}} "
            f"{MIN_INTERVAL_SUBSETS} or more"))
    for name, values in scores.items():
        predicted = predicted_changes(values, retraining.members, retraining.n_train)
        value, low, high = lds(predicted, retraining.measured, config.bootstrap, config.seed)
        if m < MIN_INTERVAL_SUBSETS:
            low = high = float("nan")
        setting = settings.get(name, {})
        rows.append({
            "scores": name,
            "scope": str(setting.get("params", "")),
            "solver": str(setting.get("solver", "")),
            "damping": float(setting["damping"]) if setting.get("damping") is not None else float("nan"),
            "n_params": int(setting.get("n_params", 0)),
            "converged": bool(setting.get("converged", True)),
            "lds": value,
            "ci_low": low,
            "ci_high": high,
            "subsets": config.subsets,
            "fraction": config.fraction,
            "epochs": config.epochs,
        })
    return rows
