"""`gradsim`: LESS/TRAK-style selection by gradient similarity to the validation set; the most aligned first.

Every pool molecule's gradient of the checkpoint's training loss (its own label; regression labels standardised as
in fine-tuning) over the trainable (adapted) parameters, and the mean validation gradient (the gradient of the
validation loss: MSE; classification, the unweighted BCE), are projected to `projection_dim` dimensions by one
seeded sparse random projection (a count sketch: parameter j goes to bucket h(j) with sign s(j), both drawn from
the seed, so inner products are kept in expectation at O(P) cost, without a P x dim matrix); score = cosine
similarity of the projected pool gradient with the projected validation gradient. A positive score: a gradient
step on the molecule lowers the validation loss to first order. `projection_dim` 0: no projection (exact cosine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs, choose_top, selection_frame

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    import torch

NAME = "gradsim"


@dataclass
class GradSimConfig(SelectionConfig):
    projection_dim: int = field(default=1024, metadata={"help": "dimension of the random gradient projection "
                                                               "(0: none, exact cosine)"})
    seed: int = field(default=0, metadata={"help": "seed of the projection"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.projection_dim < 0:
            raise SettingError("projection_dim", f"{{setting}} must be >= 0, got {self.projection_dim}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise MolpeftError(f"gradsim threshold is a cosine similarity in [-1, 1], got {self.threshold}")


class CountSketch:
    """The seeded projection R (dim x n): column j has one nonzero, s(j) = +-1, in row h(j); E[<Rx, Ry>] = <x, y>."""

    def __init__(self, n: int, dim: int, seed: int, device) -> None:
        import torch

        generator = torch.Generator().manual_seed(int(seed))
        self.dim = dim
        self.bucket = torch.randint(0, dim, (n,), generator=generator).to(device)
        self.sign = (torch.randint(0, 2, (n,), generator=generator) * 2 - 1).to(device)

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        """(m, n) -> (m, dim)."""
        import torch

        out = torch.zeros(rows.shape[0], self.dim, dtype=rows.dtype, device=rows.device)
        return out.index_add_(1, self.bucket, rows * self.sign.to(rows.dtype))

    def matrix(self) -> torch.Tensor:
        """R itself (dense; for checks on small n)."""
        import torch

        dense = torch.zeros(self.dim, len(self.bucket), dtype=torch.float64)
        dense[self.bucket.cpu(), torch.arange(len(self.bucket))] = self.sign.cpu().double()
        return dense


def gradient_similarity(model, pool_batches: list[dict], valid_batches: list[dict], task: str | None,
                        pos_weight: float | None, projection_dim: int, seed: int) -> np.ndarray:
    """The gradsim score of every pool row (module docstring), in row order."""
    import numpy as np
    import torch

    from molpeft_cli.influence.objective import eval_mode
    from molpeft_cli.selection.model_features import per_row_gradients, trainable_objective

    pool_objective = trainable_objective(model, task, pos_weight)
    valid_objective = trainable_objective(model, task, pos_weight, target=True)
    with eval_mode(model):
        target = valid_objective.mean_grad(valid_batches)
    sketch = None if projection_dim == 0 else CountSketch(pool_objective.n_params, projection_dim, seed,
                                                          target.device)

    def projected(rows: torch.Tensor) -> torch.Tensor:
        return (rows if sketch is None else sketch.project(rows)).double()

    v = projected(target[None, :])[0]
    v_norm = v.norm()
    scores = []
    for grads in per_row_gradients(pool_objective, pool_batches, "loss"):
        g = projected(grads)
        denominator = g.norm(dim=1) * v_norm
        cosine = torch.where(denominator > 0, (g @ v) / denominator.clamp_min(1e-300), torch.zeros_like(denominator))
        scores.append(cosine.cpu().numpy())
    return np.concatenate(scores)


def select_gradsim(pool: pl.DataFrame, config: GradSimConfig, context: SelectionContext) -> pl.DataFrame:
    from molpeft_cli.selection.model_features import require_model

    require_model(context, NAME)
    if not context.reference_batches:
        raise MolpeftError("strategy 'gradsim' needs the validation split's labelled batches")
    scores = gradient_similarity(context.model, list(context.batches), list(context.reference_batches),
                                 context.task, context.pos_weight, config.projection_dim, config.seed)
    return selection_frame(pool, choose_top(pool, scores, config), scores, NAME)


def gradsim_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool in mol_id order with labels, the checkpoint, and the valid split's labelled batches."""
    from molpeft_cli.selection.model_features import GRADIENT_ROWS, model_context

    return model_context(inputs, NAME, labelled=True, reference="valid", reference_labelled=True,
                         rows=GRADIENT_ROWS * 4)
