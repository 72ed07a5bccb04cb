"""LiSSA: the stochastic Neumann-series solve of (H + damping*I) x = v used by the original study (Agarwal et al. 2017).

    v_0 = v,   v_{t+1} = v + (I - step*(H_t + damping*I)) v_t,   x = step * v_T

H_t is the Hessian on the t-th training minibatch. The series converges when every eigenvalue of
step*(H_t + damping*I) lies in (0, 2); then |v_t| <= (t+1)|v|, so a norm far above that bound (or a NaN) is
divergence, reported with what to change. After T steps an eigen-direction with eigenvalue lam is solved to a
fraction 1 - (1 - step*(lam + damping))^(T+1): directions with step*(lam + damping)*T << 1 come back as about
step*(T+1) times v, not (lam + damping)^-1 v. With the original study's step 0.04, damping 0.01, depth 200, directions
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
    stop_at_tol: bool = False,
) -> IHVPResult:
    """Approximate (H + damping*I)^-1 v; `hvp` should use a fresh training minibatch on every call.

    With `stop_at_tol`, each repeat stops at the first multiple of its window (a tenth of `depth`, 10 to 100
    iterations) where the window's mean residual is below `tol`; `depth` is then a ceiling. Without it, every
    repeat runs all `depth` iterations (the original study's run) and the residual is judged on the last tenth.
    """
    v_norm = float(v.norm())
    if v_norm == 0.0 or not math.isfinite(v_norm):
        if not math.isfinite(v_norm):
            raise MolpeftError("the target gradient is not finite; check the model and the target labels")
        return IHVPResult(torch.zeros_like(v), "lissa", 0, True, 0.0)
    window = max(10, min(100, depth // 10)) if stop_at_tol else max(1, depth // 10)
    window = min(window, depth)
    solutions, norms, residuals, window_residuals, counts = [], [], [], [], []
    for _ in range(repeats):
        estimate = v.clone()
        window_start = estimate
        run_norms, run_residuals = [], []
        window_residual = math.inf
        for t in range(depth):
            if not stop_at_tol and t == depth - window:
                window_start = estimate
            # v_{t+1} - v_t = v - (H_t + damping I) x_t, x_t = step*v_t: the minibatch residual of x_t
            update = v - step * (hvp(estimate) + damping * estimate)
            estimate = estimate + update
            norm = float(estimate.norm())
            if not math.isfinite(norm) or norm > growth_limit * (t + 2) * v_norm:
                _raise_divergence(t + 1, depth, norm, v_norm, step, damping)
            run_norms.append(step * norm)
            run_residuals.append(float(update.norm()) / v_norm)
            if stop_at_tol and (t + 1) % window == 0:
                window_residual = float((estimate - window_start).norm()) / (window * v_norm)
                window_start = estimate
                if window_residual <= tol:
                    break
        if not stop_at_tol:
            window_residual = float((estimate - window_start).norm()) / (window * v_norm)
        solutions.append(step * estimate)
        norms.append(run_norms)
        residuals.append(run_residuals)
        window_residuals.append(window_residual)
        counts.append(len(run_norms))
    shortest = min(counts)
    norm_history = [sum(run[t] for run in norms) / repeats for t in range(shortest)]
    residual_history = [sum(run[t] for run in residuals) / repeats for t in range(shortest)]
    residual = sum(window_residuals) / repeats
    return IHVPResult(
        solution=torch.stack(solutions).mean(dim=0),
        solver="lissa",
        iterations=max(counts),
        converged=residual <= tol,
        residual=residual,
        residual_history=residual_history,
        norm_history=norm_history,
        info={"repeats": float(repeats), "step": step, "damping": damping, "depth_ceiling": float(depth)},
    )


def _raise_divergence(t: int, depth: int, norm: float, v_norm: float, step: float, damping: float) -> None:
    what = "became NaN/inf" if not math.isfinite(norm) else f"grew to {norm / v_norm:.3g} x |v|"
    raise SettingError(
        "step",
        f"LiSSA diverged at iteration {t}/{depth}: the estimate {what}; step*(H + damping*I) has eigenvalues "
        f"outside (0, 2) on some training minibatch. Use {{setting}} auto, a smaller {{setting}} (now {step:g}), "
        f"or a larger {{damping}} (now {damping:g}), or {{solver}} cg / exact",
    )


def largest_eigenvalue(hvp, like: torch.Tensor, iterations: int = 20, seed: int = 0) -> float:
    """Power iteration with minibatch HVPs; the largest Rayleigh quotient seen (minibatch Hessians vary, so the
    maximum over iterations bounds the curvature LiSSA meets better than the last value). `like`: a vector
    with the parameters' size, dtype and device."""
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(like.numel(), generator=generator, dtype=torch.float64).to(like.dtype).to(like.device)
    v = v / v.norm()
    largest = 0.0
    for _ in range(iterations):
        w = hvp(v)
        largest = max(largest, float(v @ w))
        norm = w.norm()
        if not torch.isfinite(norm) or norm == 0:
            break
        v = w / norm
    return largest


def auto_step(largest: float, damping: float) -> float:
    """step = 1 / (lambda_max + damping): step*(H + damping) stays below 2 even where a minibatch's curvature
    is twice the estimate."""
    return 1.0 / (max(largest, 0.0) + damping)
