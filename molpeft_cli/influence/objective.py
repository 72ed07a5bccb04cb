"""A model's loss as a function of one flat vector of the parameters under study (others fixed).

The caller supplies `loss_fn(forward, batch) -> mean loss over the batch`, where `forward(*args, **kwargs)`
runs the model (through torch.func.functional_call); this keeps the library general over how a model is
called (tensors, dicts of input_ids/attention_mask; outputs that are tensors or ModelOutput objects).
Solvers then work on plain 1-D vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.batches import ModelInputs, batch_size, map_tensors

LossFn = Callable[[Callable[..., Any], ModelInputs], torch.Tensor]
OutputFn = Callable[[Callable[..., Any], ModelInputs], torch.Tensor]  # (forward, batch) -> one output per row
CurvatureFn = Callable[[Callable[..., Any], ModelInputs], torch.Tensor]  # (forward, batch) -> d2 loss/d out2 per row


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Dropout off (and batch norm on running statistics) while gradients are taken; restore modes after."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.train(training)


class FlatObjective:
    """Loss of `model` as a function of the flat vector of the parameters named in `names`.

    `output_fn(forward, batch)`, optional, returns the model's scalar output per row (shape (rows,)); the
    Gauss-Newton curvature of the `projected` solver is built from its gradients, weighted by
    `output_curvature`: the second derivative of a row's loss in that output, a constant (2: squared error) or
    a function `(forward, batch) -> (rows,)` (binary cross-entropy: p (1 - p)).
    """

    def __init__(
        self, model: nn.Module, loss_fn: LossFn, names: Sequence[str], output_fn: OutputFn | None = None,
        output_curvature: float | CurvatureFn = 2.0,
    ) -> None:
        params = dict(model.named_parameters())
        missing = [name for name in names if name not in params]
        if missing:
            raise MolpeftError(f"model has no parameter(s) {', '.join(missing[:5])}")
        selected = [params[name] for name in names]
        dtypes = {p.dtype for p in selected}
        if len(dtypes) != 1:
            raise MolpeftError(
                f"parameters in scope mix dtypes ({sorted(map(str, dtypes))}); cast the model first"
            )
        self.model = model
        self.loss_fn = loss_fn
        self.output_fn = output_fn
        self.output_curvature = output_curvature
        self.names = list(names)
        self.shapes = [p.shape for p in selected]
        self.numels = [p.numel() for p in selected]
        self.theta = torch.cat([p.detach().reshape(-1) for p in selected])
        self.fixed = {name: p.detach() for name, p in params.items() if name not in set(names)}

    @property
    def n_params(self) -> int:
        return int(self.theta.numel())

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = flat.split(self.numels)
        return {
            name: piece.view(shape)
            for name, piece, shape in zip(self.names, pieces, self.shapes, strict=True)
        }

    def to_device(self, batch: ModelInputs) -> ModelInputs:
        return map_tensors(lambda t: t.to(self.theta.device), batch)

    def forward_with(self, flat: torch.Tensor) -> Callable[..., Any]:
        params = {**self.fixed, **self.unflatten(flat)}

        def forward(*args: Any, **kwargs: Any) -> Any:
            return functional_call(self.model, params, args, kwargs)

        return forward

    def loss(self, flat: torch.Tensor, batch: ModelInputs) -> torch.Tensor:
        """Mean loss over `batch` with the parameters in scope set to `flat`."""
        loss = self.loss_fn(self.forward_with(flat), batch)
        if loss.dim() != 0:
            raise MolpeftError(
                f"loss_fn must return a scalar (the mean over the batch), got shape {tuple(loss.shape)}"
            )
        return loss

    def sample_loss(self, flat: torch.Tensor, sample: ModelInputs) -> torch.Tensor:
        """Loss of one row given without its batch dimension (the form torch.func.vmap hands over)."""
        return self.loss(flat, map_tensors(lambda t: t.unsqueeze(0), sample))

    def sample_output(self, flat: torch.Tensor, sample: ModelInputs) -> torch.Tensor:
        """The model's scalar output for one row given without its batch dimension (for vmap)."""
        if self.output_fn is None:
            raise MolpeftError("this computation needs the model's output per row: pass output_fn")
        out = self.output_fn(self.forward_with(flat), map_tensors(lambda t: t.unsqueeze(0), sample))
        if out.numel() != 1:
            raise MolpeftError(f"output_fn must return one scalar per row, got shape {tuple(out.shape)} for one row")
        return out.reshape(())

    def row_curvature(self, batch: ModelInputs) -> torch.Tensor | float:
        """The output curvature of each row of `batch` at the current parameters ((rows,)), or the constant."""
        if not callable(self.output_curvature):
            return self.output_curvature
        with torch.no_grad():
            return self.output_curvature(self.forward_with(self.theta), self.to_device(batch)).reshape(-1)

    def grad(self, batch: ModelInputs) -> torch.Tensor:
        flat = self.theta.detach().requires_grad_(True)
        loss = self.loss(flat, self.to_device(batch))
        if not loss.requires_grad:
            return torch.zeros_like(self.theta)
        (grad,) = torch.autograd.grad(loss, flat, allow_unused=True)
        return torch.zeros_like(self.theta) if grad is None else grad.detach()

    def mean_grad(self, batches: Iterable[ModelInputs]) -> torch.Tensor:
        """Gradient of the mean loss over all rows of all batches (batches weighted by their size)."""
        return weighted_mean(
            ((batch_size(batch), self.grad(batch)) for batch in batches), self.theta, "target"
        )


def weighted_mean(sized: Iterable[tuple[int, torch.Tensor]], like: torch.Tensor, what: str) -> torch.Tensor:
    total = torch.zeros_like(like)
    rows = 0
    for n, value in sized:
        total += n * value
        rows += n
    if rows == 0:
        raise MolpeftError(f"no {what} rows to average over")
    return total / rows
