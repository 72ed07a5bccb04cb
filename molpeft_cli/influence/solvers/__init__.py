"""Solvers for x = (H + damping*I)^-1 v: lissa (stochastic minibatches), cg (full batch), exact (dense) and
projected (Gauss-Newton in a random projection; scales to every adapted parameter).

Auto settings (damping or step None) come from the largest Hessian eigenvalue: a power iteration on minibatch
HVPs (lissa, cg), the dense Hessian's spectrum (exact) or the projected Gauss-Newton matrix's (projected).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# name -> module; loaded on first use, so that SolverConfig (the `influence` command's settings) comes without torch
_EXPORTS = {
    "SOLVERS": "config", "SolverConfig": "config", "IHVPResult": "result", "RandomProjection": "projected",
    "cg_ihvp": "cg", "exact_ihvp": "exact", "lissa_ihvp": "lissa", "projected_ihvp": "projected",
    "solve_ihvp": "solve", "stop_message": "solve",
}
__all__ = [  # the same names as _EXPORTS
    "IHVPResult", "RandomProjection", "SOLVERS", "SolverConfig", "cg_ihvp", "exact_ihvp", "lissa_ihvp",
    "projected_ihvp", "solve_ihvp", "stop_message",
]

if TYPE_CHECKING:
    from molpeft_cli.influence.solvers.cg import cg_ihvp
    from molpeft_cli.influence.solvers.config import SOLVERS, SolverConfig
    from molpeft_cli.influence.solvers.exact import exact_ihvp
    from molpeft_cli.influence.solvers.lissa import lissa_ihvp
    from molpeft_cli.influence.solvers.projected import RandomProjection, projected_ihvp
    from molpeft_cli.influence.solvers.result import IHVPResult
    from molpeft_cli.influence.solvers.solve import solve_ihvp, stop_message


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
