"""Influence scores of pool molecules: one inverse-HVP solve with the target gradient, then dot products
with each pool molecule's gradient.

score(z) = grad L_target^T (H + damping*I)^-1 grad L(z) = -I(z)   (I(z) as in Koh & Liang 2017 and the original study)

Upweighting z by eps moves the parameters by -eps H^-1 grad L(z), so the target loss changes by eps*I(z) =
-eps*score(z). Adding z to n training rows is eps = 1/n: a POSITIVE score means adding z is estimated to
LOWER the target loss (helpful), by about score/n.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from molpeft_cli.influence.batches import ModelInputs
from molpeft_cli.influence.objective import CurvatureFn, FlatObjective, LossFn, OutputFn, eval_mode
from molpeft_cli.influence.per_sample import PerSampleGrads
from molpeft_cli.influence.scope import DEFAULT_HEAD_PREFIXES, select_parameters
from molpeft_cli.influence.solvers import IHVPResult, SolverConfig, solve_ihvp

if TYPE_CHECKING:  # polars is not needed to compute scores (a GPU machine may lack it)
    import polars as pl

log = logging.getLogger(__name__)

SCORE_COLUMNS: dict[str, str] = {
    "mol_id": "pool molecule id",
    "score": (
        "grad L_target^T (H + damping I)^-1 grad L(z) = -I(z); positive: adding the molecule is estimated "
        "to lower the target (validation) loss, by about score / n_train"
    ),
    "grad_norm": "norm of the molecule's own loss gradient over the parameters in scope",
}


@dataclass
class InfluenceResult:
    scores: np.ndarray  # float64, one per pool row, in pool order
    grad_norms: np.ndarray
    target_grad_norm: float
    ihvp: IHVPResult
    scope: str
    param_names: list[str]
    task: str = "regression"  # the checkpoint's task, set by the callers that know it (influence/job.py)

    @property
    def n_params(self) -> int:
        return int(self.ihvp.solution.numel())

    def to_frame(self, mol_ids: Sequence[str]) -> pl.DataFrame:
        """The scores table (columns documented in SCORE_COLUMNS)."""
        import polars as pl

        return pl.DataFrame(
            {"mol_id": list(mol_ids), "score": self.scores, "grad_norm": self.grad_norms},
            schema={"mol_id": pl.String, "score": pl.Float64, "grad_norm": pl.Float64},
        )

    def summary(self) -> dict:
        """JSON-ready record of the computation for the manifest."""
        return {
            "scope": self.scope,
            "n_params": self.n_params,
            "target_grad_norm": self.target_grad_norm,
            "n_positive": int((self.scores > 0).sum()),
            "n_pool": len(self.scores),
            "ihvp": self.ihvp.summary(),
            **({"task": self.task} if self.task != "regression" else {}),  # new key for classification only
        }


def influence_scores(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: Iterable[ModelInputs],
    target_batches: Iterable[ModelInputs],
    pool_batches: Iterable[ModelInputs],
    *,
    scope: str = "trainable",
    head_prefixes: tuple[str, ...] = DEFAULT_HEAD_PREFIXES,
    solver: SolverConfig | None = None,
    chunk_size: int | None = None,
    output_fn: OutputFn | None = None,
    target_loss_fn: LossFn | None = None,
    output_curvature: float | CurvatureFn = 2.0,
) -> InfluenceResult:
    """Score every pool row (pool batches in order) by its estimated effect on the mean target loss.

    `loss_fn(forward, batch)` returns the mean loss over a batch, calling `forward(...)` to run the model.
    `train_batches` must be re-iterable: lissa draws one per iteration (cycling), cg/exact sweep all of
    them per Hessian-vector product. `target_batches` is the validation split unless the caller chose
    otherwise.
    `output_fn(forward, batch)` (one output per row) and `output_curvature` (the loss's second derivative in it:
    a constant, 2 for squared error, or per row) are needed by the `projected` solver only. `target_loss_fn`:
    the target's loss when it is not `loss_fn` (a weighted training loss, an unweighted validation one).
    The model runs in eval mode (dropout off); its modes are restored afterwards.
    """
    solver = solver or SolverConfig()
    names = [name for name, _ in select_parameters(model, scope, head_prefixes)]
    with eval_mode(model):
        objective = FlatObjective(model, loss_fn, names, output_fn, output_curvature)
        log.debug(f"influence over {objective.n_params} parameters in {len(names)} tensors (scope {scope})")
        target = objective if target_loss_fn is None else FlatObjective(model, target_loss_fn, names, output_fn)
        target_grad = target.mean_grad(target_batches)
        ihvp = solve_ihvp(objective, train_batches, target_grad, solver)
        direction = ihvp.solution
        per_sample = PerSampleGrads(objective, chunk_size)
        scores, norms = [], []
        for batch in pool_batches:
            grads = per_sample(batch)
            scores.append((grads @ direction).double().cpu().numpy())
            norms.append(grads.norm(dim=1).double().cpu().numpy())
    return InfluenceResult(
        scores=np.concatenate(scores) if scores else np.zeros(0),
        grad_norms=np.concatenate(norms) if norms else np.zeros(0),
        target_grad_norm=float(target_grad.norm()),
        ihvp=ihvp,
        scope=scope,
        param_names=names,
    )
