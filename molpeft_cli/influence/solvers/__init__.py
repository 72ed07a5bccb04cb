"""Solvers for x = (H + damping*I)^-1 v: lissa (stochastic minibatches), cg (full batch), exact (dense)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from molpeft_cli.errors import SettingError
from molpeft_cli.influence.batches import Batch
from molpeft_cli.influence.hvp import dense_hessian, full_batch_hvp, minibatch_hvp
from molpeft_cli.influence.objective import FlatObjective
from molpeft_cli.influence.solvers.cg import cg_ihvp
from molpeft_cli.influence.solvers.config import SOLVERS, SolverConfig
from molpeft_cli.influence.solvers.exact import exact_ihvp
from molpeft_cli.influence.solvers.lissa import auto_step, lissa_ihvp
from molpeft_cli.influence.solvers.result import IHVPResult

log = logging.getLogger(__name__)

__all__ = ["SOLVERS", "IHVPResult", "SolverConfig", "cg_ihvp", "exact_ihvp", "lissa_ihvp", "solve_ihvp"]


def solve_ihvp(
    objective: FlatObjective, train_batches: Iterable[Batch], v: torch.Tensor, config: SolverConfig
) -> IHVPResult:
    """(H + damping*I)^-1 v for H the Hessian of the mean training loss, with the solver `config` names."""
    if config.solver == "lissa":
        step = config.step
        if step is None:
            step, lam = auto_step(minibatch_hvp(objective, train_batches, config.hvp), objective.n_params,
                                  config.damping, dtype=v.dtype, device=v.device)
            log.info(f"lissa: estimated largest Hessian eigenvalue {lam:.3g}; step {step:.3g}")
        result = lissa_ihvp(
            minibatch_hvp(objective, train_batches, config.hvp),
            v,
            depth=config.depth,
            damping=config.damping,
            step=step,
            repeats=config.repeats,
            tol=config.lissa_tol,
            growth_limit=config.growth_limit,
        )
    elif config.solver == "cg":
        result = cg_ihvp(
            full_batch_hvp(objective, train_batches, config.hvp),
            v,
            damping=config.damping,
            tol=config.cg_tol,
            max_iter=config.cg_max_iter,
        )
    else:
        if objective.n_params > config.exact_max_params:
            raise SettingError(
                "solver",
                f"solver 'exact' builds a dense {objective.n_params} x {objective.n_params} Hessian, "
                f"above the limit of {config.exact_max_params} parameters; use a smaller scope "
                "(head, last-1) or {setting} cg",
            )
        result = exact_ihvp(dense_hessian(objective, train_batches, config.hvp), v, damping=config.damping)
    log.debug(
        f"{result.solver}: {result.iterations} iteration(s), relative residual {result.residual:.3g}, "
        f"converged={result.converged}"
    )
    if not result.converged:
        if result.solver != "lissa":
            advice = "increase --cg-max-iter or --damping"
        elif result.residual > 1:  # a stable run's mean update is at most |v|: this one is still growing
            advice = "the estimate is growing (negative curvature or too large a step): raise --damping"
        else:
            advice = "increase --depth, or --step while step*(largest eigenvalue + damping) < 2"
        log.warning(
            f"{result.solver} did not converge (relative residual {result.residual:.3g} after "
            f"{result.iterations} iterations); scores are approximate: {advice}, "
            "or compare with --solver exact"
        )
    return result
