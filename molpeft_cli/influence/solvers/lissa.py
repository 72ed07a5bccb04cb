"""LiSSA: the stochastic Neumann-series solve of (H + damping*I) x = v used by the seed (Agarwal et al. 2017).

    v_0 = v,   v_{t+1} = v + (I - step*(H_t + damping*I)) v_t,   x = step * v_T

H_t is the Hessian on the t-th training minibatch. The series converges when every eigenvalue of
step*(H_t + damping*I) lies in (0, 2); then |v_t| <= (t+1)|v|, so a norm far above that bound (or a NaN) is
divergence, reported with what to change. After T steps an eigen-direction with eigenvalue lam is solved to a
fraction 1 - (1 - step*(lam + damping))^(T+1): directions with step*(lam + damping)*T << 1 come back as about
step*(T+1) times v, not (lam + damping)^-1 v. With the seed's step 0.04, damping 0.01, depth 200, directions
with lam below ~0.1 are solved to less than 60%, and flat ones come back as ~8 v.

Convergence is judged on the residual v - (H + damping I) x averaged over the last tenth of the iterations,
which equals (v_T - v_{T-w}) / w: one minibatch's residual is dominated by that minibatch's Hessian noise,
the average is not, and it stays large while slow directions are still growing.
"""

from __future__ import annotations

import math

import torch

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.influence.hvp import HvpFn
from molpeft_cli.influence.solvers.result import IHVPResult


def lissa_ihvp(
    hvp: HvpFn,
    v: torch.Tensor,
    *,
    depth: int = 200,
    damping: float = 0.01,
    step: float = 0.04,
    repeats: int = 1,
    tol: float = 0.01,
    growth_limit: float = 10.0,
) -> IHVPResult:
    """Approximate (H + damping*I)^-1 v; `hvp` should use a fresh training minibatch on every call."""
    v_norm = float(v.norm())
    if v_norm == 0.0 or not math.isfinite(v_norm):
        if not math.isfinite(v_norm):
            raise MolpeftError("the target gradient is not finite; check the model and the target labels")
        return IHVPResult(torch.zeros_like(v), "lissa", 0, True, 0.0)
    window = max(1, depth // 10)
    solutions, norms, residuals, window_residuals = [], [], [], []
    for _ in range(repeats):
        estimate = v.clone()
        run_norms, run_residuals = [], []
        for t in range(depth):
            if t == depth - window:
                window_start = estimate
            # v_{t+1} - v_t = v - (H_t + damping I) x_t, x_t = step*v_t: the minibatch residual of x_t
            update = v - step * (hvp(estimate) + damping * estimate)
            estimate = estimate + update
            norm = float(estimate.norm())
            if not math.isfinite(norm) or norm > growth_limit * (t + 2) * v_norm:
                _raise_divergence(t + 1, depth, norm, v_norm, step, damping)
            run_norms.append(step * norm)
            run_residuals.append(float(update.norm()) / v_norm)
        solutions.append(step * estimate)
        norms.append(run_norms)
        residuals.append(run_residuals)
        window_residuals.append(float((estimate - window_start).norm()) / (window * v_norm))
    norm_history = [sum(col) / repeats for col in zip(*norms, strict=True)]
    residual_history = [sum(col) / repeats for col in zip(*residuals, strict=True)]
    residual = sum(window_residuals) / repeats
    return IHVPResult(
        solution=torch.stack(solutions).mean(dim=0),
        solver="lissa",
        iterations=depth,
        converged=residual <= tol,
        residual=residual,
        residual_history=residual_history,
        norm_history=norm_history,
        info={"repeats": float(repeats)},
    )


def _raise_divergence(t: int, depth: int, norm: float, v_norm: float, step: float, damping: float) -> None:
    what = "became NaN/inf" if not math.isfinite(norm) else f"grew to {norm / v_norm:.3g} x |v|"
    raise SettingError(
        "step",
        f"LiSSA diverged at iteration {t}/{depth}: the estimate {what}; step*(H + damping*I) has eigenvalues "
        f"outside (0, 2) on some training minibatch. Use {{setting}} auto, a smaller {{setting}} (now {step:g}), "
        f"or a larger {{damping}} (now {damping:g}), or {{solver}} cg / exact",
    )


def largest_eigenvalue(hvp, n_params: int, iterations: int = 20, seed: int = 0, dtype=None, device=None) -> float:
    """Power iteration with minibatch HVPs; the largest Rayleigh quotient seen (minibatch Hessians vary, so the
    maximum over iterations bounds the curvature LiSSA meets better than the last value). The start vector is
    drawn on the CPU (the same on every device) and moved to `device`, where the parameters are."""
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(n_params, generator=generator, dtype=dtype or torch.float32).to(device)
    v = v / v.norm()
    largest = 0.0
    for _ in range(iterations):
        w = hvp(v.to(dtype) if dtype else v)
        largest = max(largest, float(v @ w))
        norm = w.norm()
        if not torch.isfinite(norm) or norm == 0:
            break
        v = w / norm
    return largest


def auto_step(hvp, n_params: int, damping: float, dtype=None, device=None) -> tuple[float, float]:
    """(step, lambda_max estimate): step = 1 / (lambda_max + damping), so step*(H + damping) stays below 2 even if
    a minibatch's curvature is twice the estimate."""
    lam = largest_eigenvalue(hvp, n_params, dtype=dtype, device=device)
    return 1.0 / (max(lam, 0.0) + damping), lam
