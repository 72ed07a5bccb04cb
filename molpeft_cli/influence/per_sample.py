"""Per-sample loss gradients, vectorised with torch.func.vmap(grad(...)); a per-row loop only as fallback."""

from __future__ import annotations

import logging

import torch

from molpeft_cli.influence.batches import ModelInputs, batch_size, index_rows, vmap_in_dims
from molpeft_cli.influence.objective import FlatObjective

log = logging.getLogger(__name__)


class PerSampleGrads:
    """Callable batch -> (rows, P) tensor of each row's loss gradient wrt the parameters in scope.

    vmap needs every op of the model to have a batching rule and no data-dependent Python control flow;
    when the first vectorised call fails, a warning names the reason and every later batch loops over rows.
    `chunk_size` bounds how many rows vmap runs at once (memory). `of="output"` gives each row's gradient of
    the model output instead of the loss (needs the objective's output_fn).
    """

    def __init__(self, objective: FlatObjective, chunk_size: int | None = None, of: str = "loss") -> None:
        self.objective = objective
        self.chunk_size = chunk_size
        self.vectorised = True
        self._of = of
        self._grad_fn = torch.func.grad(objective.sample_loss if of == "loss" else objective.sample_output)

    def __call__(self, batch: ModelInputs) -> torch.Tensor:
        batch = self.objective.to_device(batch)
        if self.vectorised:
            try:
                return self._vmapped(batch)
            except Exception as exc:  # any op without a vmap rule; a real bug re-raises in the loop below
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning(f"per-sample gradients cannot be vectorised ({reason}); using a slower per-row loop")
                self.vectorised = False
        return self._looped(batch)

    def _vmapped(self, batch: ModelInputs) -> torch.Tensor:
        fn = torch.func.vmap(self._grad_fn, in_dims=(None, vmap_in_dims(batch)), chunk_size=self.chunk_size)
        return fn(self.objective.theta, batch).detach()

    def _looped(self, batch: ModelInputs) -> torch.Tensor:
        rows = [index_rows(batch, i) for i in range(batch_size(batch))]
        if self._of == "loss":
            return torch.stack([self.objective.grad(row) for row in rows])
        return torch.stack([self._output_grad(row) for row in rows])

    def _output_grad(self, row: ModelInputs) -> torch.Tensor:
        flat = self.objective.theta.detach().requires_grad_(True)
        out = self.objective.output_fn(self.objective.forward_with(flat), row).reshape(())
        (grad,) = torch.autograd.grad(out, flat, allow_unused=True)
        return torch.zeros_like(flat) if grad is None else grad.detach()
