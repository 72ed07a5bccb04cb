"""Influence for the MoLFormer binary classifier: binary cross-entropy on the head's one logit against 0/1 labels
(no label scaling), on the same batch dicts as regression (influence/regression.py).

`binary_classification_loss` is a local copy of fine-tuning's loss (`model.heads.binary_classification_loss`, same
signature and meaning) until that one is on main; it should then be imported from there instead.
"""

from __future__ import annotations

import torch
from torch import nn

from molpeft_cli.influence.regression import model_inputs


def binary_classification_loss(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float | None = None,
                               reduction: str = "mean") -> torch.Tensor:
    """BCE with logits of the head's single output (`logits` [batch, 1] or [batch]) against 0/1 `labels`
    [batch]; bf16/fp16 outputs (autocast) are compared in float32; `pos_weight` weighs the positive rows' term.
    `reduction="none"`: one loss per row."""
    logit = logits.squeeze(-1) if logits.dim() > 1 else logits
    if logit.dtype in (torch.bfloat16, torch.float16):
        logit = logit.float()
    weight = None if pos_weight is None else torch.as_tensor(float(pos_weight), dtype=logit.dtype,
                                                                device=logit.device)
    return nn.functional.binary_cross_entropy_with_logits(logit, labels.to(logit.dtype).view(-1),
                                                          pos_weight=weight, reduction=reduction)


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
