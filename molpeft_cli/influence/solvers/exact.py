"""Direct solve of (H + damping*I) x = v with the dense Hessian: the reference for small parameter scopes."""

from __future__ import annotations

import logging

import torch

from molpeft_cli.influence.solvers.result import IHVPResult

log = logging.getLogger(__name__)


def exact_ihvp(hessian: torch.Tensor, v: torch.Tensor, *, damping: float = 0.01) -> IHVPResult:
    """Solve with a dense symmetric (P, P) Hessian; info has its eigenvalue range and LiSSA's stable step."""
    hessian = (hessian + hessian.T) / 2
    eigenvalues = torch.linalg.eigvalsh(hessian)
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    if low + damping <= 0:
        log.warning(
            f"H + damping*I is not positive definite (smallest Hessian eigenvalue {low:.3g}, "
            f"damping {damping:g}); the solve runs but influence is unreliable: raise damping above "
            "minus that eigenvalue"
        )
    system = hessian + damping * torch.eye(len(v), dtype=hessian.dtype, device=hessian.device)
    x = torch.linalg.solve(system, v)
    v_norm = float(v.norm())
    residual = float((v - system @ x).norm()) / v_norm if v_norm > 0 else 0.0
    return IHVPResult(
        x,
        "exact",
        1,
        True,
        residual,
        info={
            "hessian_min_eigenvalue": low,
            "hessian_max_eigenvalue": high,
            "lissa_max_stable_step": 2.0 / (high + damping) if high + damping > 0 else float("inf"),
        },
    )
