"""Influence for the MoLFormer binary classifier: binary cross-entropy on the head's one logit against 0/1 labels
(no label scaling), on the same batch dicts as regression (influence/regression.py); the loss is fine-tuning's own
(`model.heads.binary_classification_loss`).
"""

from __future__ import annotations

import torch

from molpeft_cli.influence.regression import model_inputs
from molpeft_cli.model.heads import binary_classification_loss


def classification_output(forward, batch: dict) -> torch.Tensor:
    """The model's logit per row (the output the loss is a function of)."""
    out = forward(**model_inputs(batch))
    return out.logits.squeeze(-1)


def classification_batch_loss(forward, batch: dict, pos_weight: float | None = None) -> torch.Tensor:
    """The mean binary cross-entropy of `forward` on a batch dict (`training.batching.batch_dicts`, labels 0/1)."""
    out = forward(**model_inputs(batch))
    return binary_classification_loss(out.logits, batch["labels"], pos_weight)


def classification_curvature(logits: torch.Tensor, labels: torch.Tensor,
                             pos_weight: float | None = None) -> torch.Tensor:
    """Each row's second derivative of its BCE in the logit, (w y + 1 - y) p (1 - p) with p = sigmoid(logit) (w =
    pos_weight, 1 when None): the Gauss-Newton weight of the `projected` solver."""
    p = torch.sigmoid(logits)
    weight = 1.0 if pos_weight is None else labels.to(p.dtype) * (float(pos_weight) - 1.0) + 1.0
    return weight * p * (1 - p)
