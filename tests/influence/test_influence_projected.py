"""The `projected` solver (Gauss-Newton in a random projection) against an independent dense reference.

Reference: the Gauss-Newton matrix G = (2/n) sum_i J_i J_i^T of the mean squared error, with J_i the gradient of
row i's prediction taken by torch.autograd.functional.jacobian on the plain model (no torch.func, no flat
objective), solved densely. On the fitted MLP, G is also close to the true Hessian, so scores from the exact
(Hessian) solver rank the pool nearly the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from influence_helpers import mse_loss, row_batches
from scipy.stats import spearmanr

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence import (
    FlatObjective,
    PerSampleGrads,
    RandomProjection,
    SolverConfig,
    influence_scores,
    projected_ihvp,
)


def mlp_output(forward, batch):
    x, _ = batch
    return forward(x).squeeze(-1)


def reference_gauss_newton(model, x: torch.Tensor) -> torch.Tensor:
    params = list(model.parameters())
    names = [name for name, _ in model.named_parameters()]

    def predictions(*flat_params):
        state = dict(zip(names, flat_params, strict=True))
        return torch.func.functional_call(model, state, (x,)).squeeze(-1)

    jac = torch.autograd.functional.jacobian(predictions, tuple(p.detach() for p in params))
    j = torch.cat([part.reshape(len(x), -1) for part in jac], dim=1)  # (n, P) in parameter order
    return 2.0 * j.T @ j / len(x)


@pytest.fixture
def problem(mlp_problem):
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    objective = FlatObjective(mlp_problem.model, mse_loss, names, mlp_output)
    train = row_batches(*mlp_problem.train, 64)
    target = objective.mean_grad([mlp_problem.valid])
    pool_grads = PerSampleGrads(objective)(mlp_problem.pool)
    gn = reference_gauss_newton(mlp_problem.model, mlp_problem.train[0])
    return objective, train, target, pool_grads, gn


def test_without_projection_it_is_the_exact_gauss_newton_solve(problem) -> None:
    objective, train, target, _, gn = problem
    damping = 0.05
    result = projected_ihvp(objective, train, target, proj_dim=10_000, damping=damping)
    expected = torch.linalg.solve(gn + damping * torch.eye(len(gn), dtype=gn.dtype), target)
    torch.testing.assert_close(result.solution, expected, rtol=1e-7, atol=1e-9)
    assert result.info["projected"] == 0.0 and result.info["proj_dim"] == 161
    assert result.info["lambda_max"] == pytest.approx(float(torch.linalg.eigvalsh(gn)[-1]), rel=1e-8)


def test_projection_keeps_the_ranking(problem) -> None:
    """k = 120 of 161 dimensions: the ranking stays close to the unprojected solve; k = 20 loses much of it."""
    objective, train, target, pool_grads, gn = problem
    damping = 0.5
    expected = (pool_grads @ torch.linalg.solve(gn + damping * torch.eye(len(gn), dtype=gn.dtype), target)).numpy()

    def rho(k: int, seed: int) -> float:
        result = projected_ihvp(objective, train, target, proj_dim=k, damping=damping, seed=seed)
        assert result.info["projected"] == 1.0 and result.info["proj_dim"] == k
        return spearmanr((pool_grads @ result.solution).numpy(), expected)[0]

    wide = [rho(120, seed) for seed in range(3)]
    narrow = [rho(20, seed) for seed in range(3)]
    assert min(wide) >= 0.9 and np.mean(wide) > np.mean(narrow) + 0.1


def test_auto_damping_and_agreement_with_the_hessian_solve(mlp_problem) -> None:
    train = row_batches(*mlp_problem.train, 64)
    pool = row_batches(*mlp_problem.pool, 32)
    runs = {
        solver: influence_scores(mlp_problem.model, mse_loss, train, [mlp_problem.valid], pool, scope="all",
                                 solver=SolverConfig(solver=solver, damping=0.05), output_fn=mlp_output)
        for solver in ("exact", "projected")
    }
    assert spearmanr(runs["projected"].scores, runs["exact"].scores)[0] >= 0.95
    auto = influence_scores(mlp_problem.model, mse_loss, train, [mlp_problem.valid], pool, scope="all",
                            solver=SolverConfig(solver="projected"), output_fn=mlp_output)
    info = auto.summary()["ihvp"]
    assert info["damping"] == pytest.approx(0.01 * info["lambda_max"]) and info["converged"]


def test_random_projection_is_seeded_and_blockwise_consistent() -> None:
    like = torch.zeros(1, dtype=torch.float64)
    rows = torch.randn(7, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cached = RandomProjection(50, 20, seed=1, like=like, block=16)
    redrawn = RandomProjection(50, 20, seed=1, like=like, block=16, cache_bytes=0)
    torch.testing.assert_close(cached.project(rows), redrawn.project(rows))
    y = torch.randn(20, dtype=torch.float64)
    dense = torch.cat([r for _, _, r in cached._blocks()], dim=1)  # (20, 50)
    torch.testing.assert_close(cached.back(y), dense.T @ y)
    torch.testing.assert_close(cached.project(rows), rows @ dense.T)
    other = RandomProjection(50, 20, seed=2, like=like, block=16)
    assert not torch.allclose(other.project(rows), cached.project(rows))
    big = RandomProjection(4000, 400, seed=0, like=like)
    gram = torch.cat([r for _, _, r in big._blocks()], dim=1) @ torch.randn(4000, 3, dtype=torch.float64)
    assert np.isfinite(gram.numpy()).all()


def test_projected_needs_an_output_function(mlp_problem) -> None:
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    objective = FlatObjective(mlp_problem.model, mse_loss, names)
    with pytest.raises(MolpeftError, match="output"):
        projected_ihvp(objective, [mlp_problem.train], objective.theta.clone())
