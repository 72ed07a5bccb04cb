"""Influence of pool molecules on the target (validation) loss: parameter scopes, Hessian-vector products,
per-sample gradients and inverse-HVP solvers (lissa, cg, exact, projected), and the retraining check (LDS).
No polars or RDKit at import: the scoring runs on machines without them (`regression_influence`).

Sign convention: score(z) = grad L_target^T (H + damping*I)^-1 grad L(z) = -I(z), with
I(z) = -grad L_target^T H^-1 grad L(z) the influence of upweighting z (Koh & Liang 2017; the original study's formula).
A POSITIVE score means adding z to training is estimated to LOWER the target loss; the `influence` selection
strategy keeps positive scores. H is the Hessian of the mean training loss over the parameters in scope.
"""

from molpeft_cli.influence.batches import Batch
from molpeft_cli.influence.hvp import HVP_METHODS, batch_hvp, dense_hessian, full_batch_hvp, minibatch_hvp
from molpeft_cli.influence.objective import FlatObjective, LossFn, OutputFn, eval_mode
from molpeft_cli.influence.per_sample import PerSampleGrads
from molpeft_cli.influence.regression import regression_influence, regression_loss, regression_output
from molpeft_cli.influence.scope import DEFAULT_HEAD_PREFIXES, SCOPES_HELP, select_parameters, validate_scope
from molpeft_cli.influence.scores import SCORE_COLUMNS, InfluenceResult, influence_scores
from molpeft_cli.influence.solvers import (
    SOLVERS,
    IHVPResult,
    RandomProjection,
    SolverConfig,
    cg_ihvp,
    exact_ihvp,
    lissa_ihvp,
    projected_ihvp,
    solve_ihvp,
)

__all__ = [
    "DEFAULT_HEAD_PREFIXES",
    "HVP_METHODS",
    "SCOPES_HELP",
    "SCORE_COLUMNS",
    "SOLVERS",
    "Batch",
    "FlatObjective",
    "IHVPResult",
    "InfluenceResult",
    "LossFn",
    "OutputFn",
    "PerSampleGrads",
    "RandomProjection",
    "SolverConfig",
    "batch_hvp",
    "cg_ihvp",
    "dense_hessian",
    "eval_mode",
    "exact_ihvp",
    "full_batch_hvp",
    "influence_scores",
    "lissa_ihvp",
    "minibatch_hvp",
    "projected_ihvp",
    "regression_influence",
    "regression_loss",
    "regression_output",
    "select_parameters",
    "solve_ihvp",
    "validate_scope",
]
