"""Hessian-vector products of the training loss (double backward or forward-over-reverse with torch.func):
per batch, averaged over the training set, on a fresh minibatch per call, or stacked into a dense Hessian."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.batches import ModelInputs, batch_size, cycle_batches
from molpeft_cli.influence.objective import FlatObjective, weighted_mean
from molpeft_cli.influence.solvers.config import HVP_METHODS, check_hvp_method

__all__ = ["HVP_METHODS", "batch_hvp", "batch_hvps", "check_hvp_method", "dense_hessian", "full_batch_hvp",
           "minibatch_hvp"]

HvpFn = Callable[[torch.Tensor], torch.Tensor]


def batch_hvps(objective: FlatObjective, batch: ModelInputs, vectors: torch.Tensor, method: str) -> torch.Tensor:
    """H_batch @ each row of `vectors` (shape (k, P)); H_batch is the Hessian of the batch's mean loss."""
    batch = objective.to_device(batch)
    if check_hvp_method(method) == "forward-over-reverse":
        grad_fn = torch.func.grad(lambda flat: objective.loss(flat, batch))

        def one(vector: torch.Tensor) -> torch.Tensor:
            return torch.func.jvp(grad_fn, (objective.theta,), (vector,))[1]

        return torch.func.vmap(one)(vectors) if vectors.shape[0] > 1 else one(vectors[0]).unsqueeze(0)
    flat = objective.theta.detach().requires_grad_(True)
    loss = objective.loss(flat, batch)
    (grad,) = torch.autograd.grad(loss, flat, create_graph=True, allow_unused=True)
    if grad is None or not grad.requires_grad:  # loss linear (or constant) in these parameters
        return torch.zeros_like(vectors)
    batched = vectors.shape[0] > 1
    (hvps,) = torch.autograd.grad(
        grad,
        flat,
        grad_outputs=vectors if batched else vectors[0],
        is_grads_batched=batched,
        allow_unused=True,
    )
    if hvps is None:
        return torch.zeros_like(vectors)
    return hvps.detach() if batched else hvps.detach().unsqueeze(0)


def batch_hvp(objective: FlatObjective, batch: ModelInputs, vector: torch.Tensor, method: str) -> torch.Tensor:
    return batch_hvps(objective, batch, vector.unsqueeze(0), method)[0]


def full_batch_hvp(objective: FlatObjective, batches: Iterable[ModelInputs], method: str) -> HvpFn:
    """v -> H v with H the Hessian of the mean training loss over every row of `batches`."""

    def hvp(vector: torch.Tensor) -> torch.Tensor:
        sized = ((batch_size(b), batch_hvp(objective, b, vector, method)) for b in batches)
        return weighted_mean(sized, objective.theta, "training")

    return hvp


def minibatch_hvp(objective: FlatObjective, batches: Iterable[ModelInputs], method: str) -> HvpFn:
    """v -> H_t v, each call on the next training minibatch (the unbiased estimate LiSSA needs)."""
    stream = cycle_batches(batches)

    def hvp(vector: torch.Tensor) -> torch.Tensor:
        return batch_hvp(objective, next(stream), vector, method)

    return hvp


def dense_hessian(
    objective: FlatObjective, batches: Iterable[ModelInputs], method: str, chunk_size: int = 256
) -> torch.Tensor:
    """The (P, P) Hessian of the mean training loss, built from HVPs against identity columns in chunks."""
    n = objective.n_params
    eye = torch.eye(n, dtype=objective.theta.dtype, device=objective.theta.device)
    total = torch.zeros(n, n, dtype=eye.dtype, device=eye.device)
    rows = 0
    for batch in batches:
        size = batch_size(batch)
        for start in range(0, n, chunk_size):
            total[start : start + chunk_size] += size * batch_hvps(
                objective, batch, eye[start : start + chunk_size], method
            )
        rows += size
    if rows == 0:
        raise MolpeftError("no training rows to build the Hessian from")
    hessian = total / rows
    return (hessian + hessian.T) / 2
