"""How the report names the task's main metric, which way is better, and the training routes."""

from __future__ import annotations

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT
from molpeft_cli.tasks import HIGHER_IS_BETTER

METRIC_NAMES = {"mse": "MSE", "roc_auc": "ROC-AUC"}
ROUTES = {MAIN_VARIANT: "two-stage: MLM, then supervised",
          DIRECT_VARIANT: "direct: supervised from the base model, no MLM stage"}
ROUTE_NAMES = {MAIN_VARIANT: "the two-stage route (MLM, then supervised)",
               DIRECT_VARIANT: "the direct route (supervised from the base model, no MLM stage)"}
ROUTE_CELLS = {MAIN_VARIANT: "Two-stage cells (MLM, then supervised)",
               DIRECT_VARIANT: "Direct cells (supervised from the base model, no MLM stage)"}
WHY_ROC_AUC = ("The main metric is ROC-AUC (higher is better; 0.5 is chance): it is threshold-free (it scores how "
               "well the predicted probabilities rank the test molecules, with no cut-off to choose) and insensitive "
               "to the class balance, so cells whose added molecules shift the share of positives still compare "
               "fairly on the same test molecules. The matrix, the paired differences, the PEFT/full ratios and "
               "every \"best\" are in ROC-AUC; cells.parquet also holds PR-AUC (average precision), accuracy and "
               "balanced accuracy at 0.5, log loss and Brier score.")


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def better_direction(metric: str) -> str:
    """'lower' or 'higher'."""
    return "higher" if HIGHER_IS_BETTER[metric] else "lower"


def interval_better(low: float, high: float, metric: str, reference: float = 0.0) -> bool:
    """Whether an interval of (cell minus, or over, reference) lies wholly on the better side of `reference`."""
    return low > reference if HIGHER_IS_BETTER[metric] else high < reference


def interval_worse(low: float, high: float, metric: str, reference: float = 0.0) -> bool:
    return high < reference if HIGHER_IS_BETTER[metric] else low > reference
