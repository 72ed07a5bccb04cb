"""Gauss-Newton influence in a random projection (TRAK-style; Park et al. 2023): the scalable solver.

Each training row's output gradient J_i (over the parameters in scope) is projected to k dimensions with a
seeded Gaussian matrix R (k x P, entries N(0, 1/k), so E[R^T R] = I and inner products are kept), and

    x = R^T (R G R^T + damping*I)^-1 R v,   G = (1/n) sum_i c_i J_i J_i^T

is the damped inverse of the Gauss-Newton matrix G of the mean training loss (c_i = row i's loss's second
derivative in the output: 2 for squared error, p_i (1 - p_i) for binary cross-entropy on the logit, the
objective's `output_curvature`; G equals the Hessian at a perfect fit and is positive semi-definite
everywhere, so no damping is needed for stability). Scores are then pool gradients dotted with x, as for the
other solvers. Cost: one per-row gradient per training row and a k x k solve, whatever P is; R is generated
in column blocks from the seed (cached when small), so memory stays O(rows x P + k^2). With k >= P there is no
projection and the solve is the exact damped Gauss-Newton one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.influence.batches import ModelInputs, batch_size
from molpeft_cli.influence.objective import FlatObjective
from molpeft_cli.influence.per_sample import PerSampleGrads
from molpeft_cli.influence.solvers.result import IHVPResult


class RandomProjection:
    """R (dim x n) with N(0, 1/dim) entries, drawn block by block of `block` columns from `seed`; the identity
    when dim >= n. Blocks are kept in memory when they take at most `cache_bytes`, else redrawn per use."""

    def __init__(self, n: int, dim: int, seed: int, like: torch.Tensor, block: int = 8192,
                 cache_bytes: int = 1 << 30) -> None:
        self.n = n
        self.identity = dim >= n
        self.dim = n if self.identity else dim
        self.seed = seed
        self.device, self.dtype = like.device, like.dtype
        self.block = block
        itemsize = torch.empty(0, dtype=self.dtype).element_size()
        self._cache: list[tuple[int, int, torch.Tensor]] | None = None
        if not self.identity and n * dim * itemsize <= cache_bytes:
            self._cache = list(self._draw())

    def _draw(self) -> Iterator[tuple[int, int, torch.Tensor]]:
        for index, start in enumerate(range(0, self.n, self.block)):
            stop = min(start + self.block, self.n)
            generator = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + index)
            r = torch.randn(self.dim, stop - start, generator=generator, device=self.device, dtype=self.dtype)
            yield start, stop, r / math.sqrt(self.dim)

    def _blocks(self) -> Iterable[tuple[int, int, torch.Tensor]]:
        return self._cache if self._cache is not None else self._draw()

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        """(m, n) -> (m, dim): R applied to each row."""
        if self.identity:
            return rows
        out = torch.zeros(rows.shape[0], self.dim, dtype=rows.dtype, device=rows.device)
        for start, stop, r in self._blocks():
            out += rows[:, start:stop] @ r.T
        return out

    def back(self, y: torch.Tensor) -> torch.Tensor:
        """(dim,) -> (n,): R^T y."""
        if self.identity:
            return y
        return torch.cat([r.T @ y for _, _, r in self._blocks()])


def projected_ihvp(
    objective: FlatObjective,
    train_batches: Iterable[ModelInputs],
    v: torch.Tensor,
    *,
    proj_dim: int = 2048,
    damping: float | None = None,
    damping_ratio: float = 0.01,
    seed: int = 0,
    output_curvature: float | None = None,
    rows_per_projection: int = 256,
    chunk_size: int | None = None,
) -> IHVPResult:
    """x = R^T (R G R^T + damping I)^-1 R v (module docstring); damping None: damping_ratio * largest
    eigenvalue of R G R^T. `output_curvature` None: the objective's (a constant, or one per row)."""
    if objective.output_fn is None:
        raise MolpeftError("solver 'projected' needs the model's output per row (output_fn)")
    projection = RandomProjection(objective.n_params, proj_dim, seed, objective.theta)
    jacobians = PerSampleGrads(objective, chunk_size, of="output")
    kernel = torch.zeros(projection.dim, projection.dim, dtype=torch.float64, device=v.device)
    pending: list[torch.Tensor] = []
    rows = 0
    per_row = output_curvature is None and callable(objective.output_curvature)
    if output_curvature is None and not per_row:
        output_curvature = float(objective.output_curvature)

    def flush() -> None:
        if pending:
            phi = projection.project(torch.cat(pending)).double()
            kernel.addmm_(phi.T, phi)
            pending.clear()

    for batch in train_batches:
        rows_jacobian = jacobians(batch)
        if per_row:  # sqrt(c_i) J_i, so that the kernel sums c_i (R J_i)(R J_i)^T
            weight = torch.as_tensor(objective.row_curvature(batch), dtype=rows_jacobian.dtype,
                                     device=rows_jacobian.device)
            rows_jacobian = rows_jacobian * weight.clamp_min(0).sqrt().unsqueeze(1)
        pending.append(rows_jacobian)
        rows += batch_size(batch)
        if sum(p.shape[0] for p in pending) >= rows_per_projection:
            flush()
    flush()
    if rows == 0:
        raise MolpeftError("no training rows to build the Gauss-Newton matrix from")
    kernel *= (1.0 if per_row else output_curvature) / rows
    kernel = (kernel + kernel.T) / 2
    largest = _largest_eigenvalue(kernel)
    if damping is None:
        damping = damping_ratio * largest
    pv = projection.project(v.unsqueeze(0))[0].double()
    system = kernel + damping * torch.eye(projection.dim, dtype=kernel.dtype, device=kernel.device)
    factor, problem = torch.linalg.cholesky_ex(system)
    if int(problem):
        raise SettingError("damping", f"the projected Gauss-Newton matrix plus damping {damping:.3g} is "
                           "singular; use a larger {setting}")
    y = torch.cholesky_solve(pv.unsqueeze(1), factor).squeeze(1)
    pv_norm = float(pv.norm())
    residual = float((pv - system @ y).norm()) / pv_norm if pv_norm > 0 else 0.0
    solution = projection.back(y.to(v.dtype))
    return IHVPResult(
        solution,
        "projected",
        1,
        True,
        residual,
        info={
            "damping": float(damping),
            "lambda_max": largest,
            "proj_dim": float(projection.dim),
            "projected": float(not projection.identity),
            "n_train": float(rows),
        },
    )


def _largest_eigenvalue(matrix: torch.Tensor, iterations: int = 100) -> float:
    """Largest eigenvalue of a symmetric positive semi-definite matrix by power iteration (a k x k matrix-vector
    product each; cheaper than a full eigendecomposition for k in the thousands)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(matrix.shape[0], generator=generator, dtype=torch.float64).to(matrix.device)
    value = 0.0
    for _ in range(iterations):
        y = matrix @ x
        norm = float(y.norm())
        if norm == 0.0:
            return 0.0
        previous, value = value, float(x @ y) / float(x @ x)
        x = y / norm
        if abs(value - previous) <= 1e-10 * abs(value):
            break
    return value
