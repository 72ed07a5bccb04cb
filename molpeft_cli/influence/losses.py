"""The influence objective of each task, asked by the checkpoint's task: the training loss (its Hessian and the
pool's per-sample gradients), the target loss (its gradient on the validation split), the model's output per row
and the loss's curvature in that output (the `projected` solver's Gauss-Newton weight).

regression: MSE on standardised labels (curvature 2 on every row). classification: binary cross-entropy on the
logit against 0/1 labels; the training side weighs positives by the checkpoint's pos_weight (as fine-tuning did),
the target is the unweighted validation BCE (the log loss)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from molpeft_cli.influence.classification import (
    classification_batch_loss,
    classification_curvature,
    classification_output,
)
from molpeft_cli.influence.objective import CurvatureFn, LossFn, OutputFn
from molpeft_cli.influence.regression import regression_batch_loss, regression_output
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, check_task

MSE_CURVATURE = 2.0


@dataclass(frozen=True)
class TaskObjective:
    task: str
    loss: LossFn  # the training loss: Hessian, per-sample pool gradients
    target_loss: LossFn  # the loss whose change on the target split is scored
    output: OutputFn  # one output per row (the `projected` solver's Jacobians)
    curvature: float | CurvatureFn  # a constant, or per row
    pos_weight: float | None = None  # classification: the weight of positive training rows (None: 1)


def task_objective(task: str, pos_weight: float | None = None) -> TaskObjective:
    """The influence objective for a checkpoint of `task` (`pos_weight`: classification only)."""
    if check_task(task) == REGRESSION:
        return TaskObjective(REGRESSION, regression_batch_loss, regression_batch_loss, regression_output,
                             MSE_CURVATURE)
    weight = None if pos_weight is None or float(pos_weight) == 1.0 else float(pos_weight)
    train_loss = classification_batch_loss if weight is None else partial(classification_batch_loss,
                                                                          pos_weight=weight)

    def curvature(forward, batch) -> torch.Tensor:
        return classification_curvature(classification_output(forward, batch), batch["labels"], weight)

    return TaskObjective(CLASSIFICATION, train_loss, classification_batch_loss, classification_output, curvature,
                         weight)


def checkpoint_pos_weight(meta: dict) -> float | None:
    """The positive-class weight a classification checkpoint was fine-tuned with (finetune.json's
    class_balance.pos_weight; None when absent)."""
    value = (meta.get("class_balance") or {}).get("pos_weight")
    return None if value is None else float(value)
