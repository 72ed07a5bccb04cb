"""What MC dropout's "uncertainty" is for each task: the spread (std) of the predictions over the dropout passes
for regression; for binary classification, on the per-pass probabilities p_t = sigmoid(logit_t), BALD (the mutual
information between the prediction and the weights, H[mean_t p_t] - mean_t H[p_t]) or the predictive entropy
H[mean_t p_t], with H the binary entropy in nats. Loads without torch; the measures take torch tensors of samples
shaped (passes, rows) and return one value per row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from molpeft_cli.errors import SettingError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, check_task

if TYPE_CHECKING:
    import torch

AUTO = "auto"
# the choices of the `uncertainty` setting; auto: std for regression, bald for classification
UNCERTAINTIES = (AUTO, "std", "bald", "entropy")
DEFAULT_UNCERTAINTY = {REGRESSION: "std", CLASSIFICATION: "bald"}
# the measures each task allows (BALD and entropy are of probabilities)
TASK_UNCERTAINTIES = {REGRESSION: ("std",), CLASSIFICATION: ("bald", "entropy", "std")}
UNCERTAINTY_HELP = {
    "std": "standard deviation of the predictions over the passes (classification: of the probabilities)",
    "bald": "BALD mutual information H[mean p] - mean H[p] over the passes (nats; classification)",
    "entropy": "predictive entropy H[mean p] of the mean probability over the passes (nats; classification)",
}


def check_uncertainty(name: str) -> str:
    """`name` when it is one of UNCERTAINTIES, else a SettingError."""
    if name not in UNCERTAINTIES:
        raise SettingError("uncertainty", f"unknown {{setting}} {name!r}; choose one of {', '.join(UNCERTAINTIES)}")
    return name


def resolve_uncertainty(requested: str, task: str) -> str:
    """The measure `requested` (auto, std, bald, entropy) means for a checkpoint of `task`; bald and entropy need
    a classification checkpoint."""
    check_uncertainty(requested)
    check_task(task)
    if requested == AUTO:
        return DEFAULT_UNCERTAINTY[task]
    if requested not in TASK_UNCERTAINTIES[task]:
        raise SettingError("uncertainty", f"{{setting}} {requested} needs a classification checkpoint (probabilities); "
                           f"this checkpoint's task is {task}: use {{setting}} std or auto")
    return requested


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """H(p) = -p log p - (1 - p) log(1 - p) in nats, elementwise; 0 at p = 0 and p = 1."""
    import torch

    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def predictive_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """H[mean_t p_t] per row of (passes, rows) probabilities."""
    return binary_entropy(probabilities.mean(0))


def bald(probabilities: torch.Tensor) -> torch.Tensor:
    """H[mean_t p_t] - mean_t H[p_t] per row of (passes, rows) probabilities: the part of the predictive entropy
    that the dropout passes disagree on (>= 0 by Jensen; clipped at 0 against rounding)."""
    return (predictive_entropy(probabilities) - binary_entropy(probabilities).mean(0)).clamp_min(0.0)


def spread(samples: torch.Tensor) -> torch.Tensor:
    """The standard deviation over the passes (Bessel-corrected), per row."""
    return samples.std(0)


MEASURES = {"std": spread, "bald": bald, "entropy": predictive_entropy}
