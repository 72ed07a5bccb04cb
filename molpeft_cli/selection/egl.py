"""`egl`: expected gradient length over the trainable (adapted) parameters; the largest expected change first.

classification: EGL(x) = sum_y p(y|x) ||grad_theta L(x, y)||, with L the checkpoint's training loss (BCE on the logit,
positives weighted by its pos_weight w) and p = sigmoid(logit). As grad L(x, y) = dL/dz grad z, this is
(w + 1) p (1 - p) ||grad_theta z(x)||.
regression: the loss gradient at the model's own prediction is zero, so the label is taken as the field does for
regression (expected model change, Cai et al. 2013) without an ensemble: y ~ N(f(x), s^2) with one s for every
molecule. Then E_y ||grad (f - y)^2|| = 2 s sqrt(2 / pi) ||grad_theta f(x)||, so the score is ||grad_theta f(x)||,
the norm of the gradient of the (standardised) prediction: the same ranking without an s to estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs, choose_top, selection_frame
from molpeft_cli.selection.model_features import model_context, per_row_gradients, require_model, trainable_objective
from molpeft_cli.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

NAME = "egl"


@dataclass
class EglConfig(SelectionConfig):
    """k or threshold (a gradient length); EGL has no settings of its own."""


def expected_gradient_length(model, batches: list[dict], task: str | None, pos_weight: float | None) -> np.ndarray:
    """The EGL score of every row of `batches` (module docstring), in row order."""
    import numpy as np
    import torch

    from molpeft_cli.selection.model_features import head_features

    objective = trainable_objective(model, task, pos_weight)
    norms = np.concatenate([g.double().norm(dim=1).cpu().numpy()
                            for g in per_row_gradients(objective, batches, "output")])
    if task != CLASSIFICATION:
        return norms
    _, _, logits = head_features(model, batches)
    p = torch.sigmoid(torch.as_tensor(logits)).numpy()
    w = 1.0 if pos_weight is None else float(pos_weight)
    return (w + 1.0) * p * (1.0 - p) * norms


def select_egl(pool: pl.DataFrame, config: EglConfig, context: SelectionContext) -> pl.DataFrame:
    require_model(context, NAME)
    scores = expected_gradient_length(context.model, list(context.batches), context.task, context.pos_weight)
    return selection_frame(pool, choose_top(pool, scores, config), scores, NAME)


def egl_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The checkpoint's model, task and the pool's batches (no labels needed)."""
    return model_context(inputs, NAME)
