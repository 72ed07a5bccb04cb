"""Influence of pool molecules on the target (validation) loss: parameter scopes, Hessian-vector products,
per-sample gradients and inverse-HVP solvers (lissa, cg, exact, projected), and the retraining check (LDS).
No polars or RDKit at import: the scoring runs on machines without them (`regression_influence`).

Sign convention: score(z) = grad L_target^T (H + damping*I)^-1 grad L(z) = -I(z), with
I(z) = -grad L_target^T H^-1 grad L(z) the influence of upweighting z (Koh & Liang 2017; the original study's formula).
A POSITIVE score means adding z to training is estimated to LOWER the target loss; the `influence` selection
strategy keeps positive scores. H is the Hessian of the mean training loss over the parameters in scope.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name -> module; loaded on first use, so that the settings (solvers.config) come without torch
_EXPORTS = {
    "ModelInputs": "batches", "HVP_METHODS": "hvp", "batch_hvp": "hvp", "dense_hessian": "hvp",
    "full_batch_hvp": "hvp", "minibatch_hvp": "hvp", "FlatObjective": "objective", "LossFn": "objective",
    "OutputFn": "objective", "eval_mode": "objective", "PerSampleGrads": "per_sample",
    "regression_influence": "regression", "regression_batch_loss": "regression", "regression_output": "regression",
    "DEFAULT_HEAD_PREFIXES": "scope", "SCOPES_HELP": "scope", "select_parameters": "scope",
    "validate_scope": "scope", "SCORE_COLUMNS": "scores", "InfluenceResult": "scores",
    "influence_scores": "scores", "SOLVERS": "solvers", "IHVPResult": "solvers", "RandomProjection": "solvers",
    "SolverConfig": "solvers", "cg_ihvp": "solvers", "exact_ihvp": "solvers", "lissa_ihvp": "solvers",
    "projected_ihvp": "solvers", "solve_ihvp": "solvers", "CurvatureFn": "objective",
    "TaskObjective": "losses", "task_objective": "losses", "binary_classification_loss": "classification",
    "classification_batch_loss": "classification", "classification_output": "classification",
}
__all__ = [  # the same names as _EXPORTS
    "CurvatureFn", "DEFAULT_HEAD_PREFIXES", "FlatObjective", "HVP_METHODS", "IHVPResult", "InfluenceResult",
    "LossFn", "ModelInputs", "OutputFn", "PerSampleGrads", "RandomProjection", "SCOPES_HELP", "SCORE_COLUMNS",
    "SOLVERS", "SolverConfig", "TaskObjective", "batch_hvp", "binary_classification_loss", "cg_ihvp",
    "classification_batch_loss", "classification_output", "dense_hessian", "eval_mode", "exact_ihvp",
    "full_batch_hvp", "influence_scores", "lissa_ihvp", "minibatch_hvp", "projected_ihvp", "regression_batch_loss",
    "regression_influence", "regression_output", "select_parameters", "solve_ihvp", "task_objective",
    "validate_scope",
]

if TYPE_CHECKING:
    from molpeft_cli.influence.batches import ModelInputs
    from molpeft_cli.influence.classification import (
        binary_classification_loss,
        classification_batch_loss,
        classification_output,
    )
    from molpeft_cli.influence.hvp import HVP_METHODS, batch_hvp, dense_hessian, full_batch_hvp, minibatch_hvp
    from molpeft_cli.influence.losses import TaskObjective, task_objective
    from molpeft_cli.influence.objective import CurvatureFn, FlatObjective, LossFn, OutputFn, eval_mode
    from molpeft_cli.influence.per_sample import PerSampleGrads
    from molpeft_cli.influence.regression import regression_batch_loss, regression_influence, regression_output
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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
