"""Conjugate gradient on (H + damping*I) x = v with full-batch Hessian-vector products."""

from __future__ import annotations

import math

import torch

from molpeft_cli.errors import SettingError
from molpeft_cli.influence.hvp import HvpFn
from molpeft_cli.influence.solvers.result import IHVPResult


def cg_ihvp(
    hvp: HvpFn, v: torch.Tensor, *, damping: float = 0.01, tol: float = 1e-5, max_iter: int = 100
) -> IHVPResult:
    """Solve (H + damping*I) x = v (positive definite), stopping at relative residual `tol`."""
    v_norm = float(v.norm())
    if v_norm == 0.0:
        return IHVPResult(torch.zeros_like(v), "cg", 0, True, 0.0)
    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rr = float(r @ r)
    residuals, norms = [], []
    iterations = 0
    for iterations in range(1, max_iter + 1):
        ap = hvp(p) + damping * p
        curvature = float(p @ ap)
        if not math.isfinite(curvature) or curvature <= 0:
            raise SettingError(
                "damping",
                f"CG met non-positive curvature ({curvature:.3g}) at iteration {iterations}: "
                "H + damping*I is not positive definite (the model is not at a minimum of the training "
                f"loss). Use a larger {{setting}} (now {damping:g})",
            )
        alpha = rr / curvature
        x = x + alpha * p
        r = r - alpha * ap
        rr_next = float(r @ r)
        residuals.append(math.sqrt(rr_next) / v_norm)
        norms.append(float(x.norm()))
        if residuals[-1] <= tol:
            break
        p = r + (rr_next / rr) * p
        rr = rr_next
    # the recursive residual drifts in finite precision; report the true one
    residual = float((v - hvp(x) - damping * x).norm()) / v_norm
    return IHVPResult(x, "cg", iterations, residual <= tol, residual, residuals, norms)
