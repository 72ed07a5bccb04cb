"""`solve_ihvp`: x = (H + damping*I)^-1 v with the solver a SolverConfig names, its auto settings, and the one
line that says a solve stopped short."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from molpeft_cli.errors import SettingError
from molpeft_cli.influence.batches import ModelInputs
from molpeft_cli.influence.hvp import dense_hessian, full_batch_hvp, minibatch_hvp
from molpeft_cli.influence.objective import FlatObjective
from molpeft_cli.influence.solvers.cg import cg_ihvp
from molpeft_cli.influence.solvers.config import SolverConfig
from molpeft_cli.influence.solvers.exact import exact_ihvp
from molpeft_cli.influence.solvers.lissa import auto_step, largest_eigenvalue, lissa_ihvp
from molpeft_cli.influence.solvers.projected import projected_ihvp
from molpeft_cli.influence.solvers.result import IHVPResult

log = logging.getLogger(__name__)


def solve_ihvp(
    objective: FlatObjective, train_batches: Iterable[ModelInputs], v: torch.Tensor, config: SolverConfig
) -> IHVPResult:
    """(H + damping*I)^-1 v for H the Hessian of the mean training loss, with the solver `config` names
    (projected: H is the Gauss-Newton matrix, seen through a random projection)."""
    if config.solver == "projected":
        result = projected_ihvp(objective, train_batches, v, proj_dim=config.proj_dim, damping=config.damping_value,
                                damping_ratio=config.damping_ratio, seed=config.proj_seed)
        log.info(f"projected: Gauss-Newton in {int(result.info['proj_dim'])} dimensions, largest eigenvalue "
             f"{result.info['lambda_max']:.3g}, damping {result.info['damping']:.3g}")
    elif config.solver == "exact":
        if objective.n_params > config.exact_max_params:
            raise SettingError(
                "solver",
                f"{{setting}} 'exact' builds a dense {objective.n_params} x {objective.n_params} Hessian, "
                f"above the limit of {config.exact_max_params} parameters; use a smaller {{params}} scope "
                "(head, last-1), or {setting} projected or cg"
            )
        hessian = dense_hessian(objective, train_batches, config.hvp)
        damping = config.damping_value
        if damping is None:
            damping = config.damping_ratio * float(torch.linalg.eigvalsh((hessian + hessian.T) / 2)[-1])
        result = exact_ihvp(hessian, v, damping=damping)
        result.info["damping"] = damping
    else:
        largest = None
        given_damping, given_step = config.damping_value, config.step_value
        if given_damping is None or (config.solver == "lissa" and given_step is None):
            largest = largest_eigenvalue(minibatch_hvp(objective, train_batches, config.hvp), objective.theta)
        damping = given_damping if given_damping is not None else config.damping_ratio * max(largest, 0.0)
        if config.solver == "lissa":
            step = given_step if given_step is not None else auto_step(largest, damping)
            if largest is not None:
                log.info(f"lissa: estimated largest Hessian eigenvalue {largest:.3g}; damping {damping:.3g}, "
                     f"step {step:.3g}")
            result = lissa_ihvp(
                minibatch_hvp(objective, train_batches, config.hvp),
                v,
                depth=config.depth,
                damping=damping,
                step=step,
                repeats=config.repeats,
                tol=config.tol,
                growth_limit=config.growth_limit,
                stop_at_tol=not config.fixed_depth,
            )
        else:
            result = cg_ihvp(
                full_batch_hvp(objective, train_batches, config.hvp),
                v,
                damping=damping,
                tol=config.cg_tol,
                max_iter=config.cg_max_iter,
            )
            result.info["damping"] = damping
        if largest is not None:
            result.info["lambda_max"] = largest
    log.debug(
        f"{result.solver}: {result.iterations} iteration(s), relative residual {result.residual:.3g}, "
        f"converged={result.converged}"
    )
    if not result.converged:
        warning = stop_message(result, config)
        result.note = warning.render()  # setting names in the manifest; the CLI shows the warning with its flags
        log.warning(warning)
    return result


def stop_message(result: IHVPResult, config: SolverConfig) -> SettingError:
    """The one line that says a solve stopped short, with its residual and which settings to change (named
    through placeholders: rendered with setting names in the manifest, with flags by the CLI)."""
    if result.solver == "cg":
        setting, advice, where = "cg_max_iter", "increase {setting} or {damping}", f"{{setting}} {config.cg_max_iter}"
    elif result.residual > 1:  # a stable run's mean update is at most |v|: this one is still growing
        setting, where = "damping", f"{{depth}} {config.depth}"
        advice = "the estimate is growing (negative curvature or too large a step): raise {setting}"
    else:
        setting, advice = "depth", "raise {setting}, or {step} while step*(largest eigenvalue + damping) < 2"
        where = f"{{setting}} {config.depth}" + (", {fixed_depth}" if config.fixed_depth else "")
    tol = config.cg_tol if result.solver == "cg" else config.tol
    return SettingError(setting, f"{result.solver} did not converge (stopped short): relative residual "
                        f"{result.residual:.3g} > tol {tol:g} after {result.iterations} iterations ({where}); scores "
                        "are approximate: " + advice + ", or compare with {solver} exact")
