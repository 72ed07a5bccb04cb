"""Influence for the MoLFormer regression model on ready-made batches: the plain library call for scripts and
GPU machines (no polars, no files).

Batches are dicts with `input_ids`, `attention_mask` (padded token ids), `labels` (labels standardised as in
fine-tuning) and, for a head that takes them, `features` (standardised molecule features); the loss is the
fine-tuning loss, MSE on the model's scalar output.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from molpeft_cli.influence.batches import ModelInputs
from molpeft_cli.influence.scores import InfluenceResult, influence_scores
from molpeft_cli.influence.solvers import SolverConfig


def model_inputs(batch: dict) -> dict:
    """The entries of a batch dict that the model's forward takes (all but the labels)."""
    return {key: value for key, value in batch.items() if key != "labels"}


def regression_output(forward, batch: dict) -> torch.Tensor:
    """The model's prediction per row (standardised units)."""
    out = forward(**model_inputs(batch))
    return out.logits.squeeze(-1)


def regression_batch_loss(forward, batch: dict) -> torch.Tensor:
    """The fine-tuning loss (`model.heads.regression_loss`, mean squared error) of `forward` on a batch dict
    (`training.batching.batch_dicts`): the influence objective's loss."""
    from molpeft_cli.model.heads import regression_loss as head_loss

    out = forward(**model_inputs(batch))
    return head_loss(out.logits, batch["labels"])


def regression_influence(
    model: nn.Module,
    train_batches: Iterable[ModelInputs],
    valid_batches: Iterable[ModelInputs],
    pool_batches: Iterable[ModelInputs],
    *,
    scope: str = "trainable",
    solver: SolverConfig | None = None,
    chunk_size: int | None = None,
) -> InfluenceResult:
    """Influence of each pool row on the mean validation loss of a fine-tuned regression model.

    Defaults to the scalable `projected` solver over every trainable (adapted) parameter; the model stays on its
    device (batches are moved to it). `result.scores[i] > 0`: adding pool row i is estimated to lower the
    validation loss. Train batches must be re-iterable (a list).
    """
    return influence_scores(
        model,
        regression_batch_loss,
        train_batches,
        valid_batches,
        pool_batches,
        scope=scope,
        solver=solver or SolverConfig(solver="projected"),
        chunk_size=chunk_size,
        output_fn=regression_output,
    )
