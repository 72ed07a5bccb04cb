"""Inverse-HVP solvers on a quadratic with a known Hessian, their failure modes, and the solver config."""

from __future__ import annotations

import math
import re

import pytest
import torch
from influence_helpers import mse_loss

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence import FlatObjective, SolverConfig, cg_ihvp, exact_ihvp, lissa_ihvp, solve_ihvp


def spd_matrix(n: int = 30, low: float = 0.5, high: float = 5.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q @ torch.diag(torch.linspace(low, high, n, dtype=torch.float64)) @ q.T


@pytest.fixture
def quadratic():
    hessian = spd_matrix()
    v = torch.randn(30, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return hessian, v


def as_flag(setting: str) -> str:
    return "--" + setting.replace("_", "-")

def test_exact_and_cg_solve_the_damped_system(quadratic) -> None:
    hessian, v = quadratic
    damping = 0.01
    expected = torch.linalg.solve(hessian + damping * torch.eye(30, dtype=torch.float64), v)
    exact = exact_ihvp(hessian, v, damping=damping)
    cg = cg_ihvp(lambda x: hessian @ x, v, damping=damping, tol=1e-10, max_iter=100)
    for result in (exact, cg):
        assert result.converged
        torch.testing.assert_close(result.solution, expected, rtol=1e-4, atol=1e-4)
    assert cg.iterations <= 30 and cg.residual < 1e-9
    assert exact.info["hessian_min_eigenvalue"] == pytest.approx(0.5)
    assert exact.info["lissa_max_stable_step"] == pytest.approx(2 / 5.01)


def test_lissa_converges_with_step_and_depth_matched_to_the_spectrum(quadratic) -> None:
    hessian, v = quadratic
    damping = 0.01
    # step = 1/(largest eigenvalue + damping): step*(H + damping I) has eigenvalues in (0, 1];
    # the slowest direction (eigenvalue 0.5) shrinks by (1 - 0.51*step) per iteration: 0.9^300 ~ 2e-14
    step = 1 / (5.0 + damping)
    result = lissa_ihvp(lambda x: hessian @ x, v, depth=300, damping=damping, step=step)
    expected = torch.linalg.solve(hessian + damping * torch.eye(30, dtype=torch.float64), v)
    torch.testing.assert_close(result.solution, expected, rtol=1e-4, atol=1e-4)
    assert result.converged and result.residual < 1e-8
    assert len(result.norm_history) == 300


def test_lissa_truncation_with_too_few_iterations_is_reported(quadratic) -> None:
    hessian, v = quadratic
    result = lissa_ihvp(lambda x: hessian @ x, v, depth=20, damping=0.01, step=0.04)
    assert not result.converged and result.residual > 0.1


def test_lissa_divergence_raises_instead_of_nan_scores(quadratic) -> None:
    hessian, v = quadratic
    # step*(5 + 0.01) = 2.5 > 2: the top eigen-direction grows as 1.5^t
    with pytest.raises(MolpeftError) as caught:
        lissa_ihvp(lambda x: hessian @ x, v, depth=200, damping=0.01, step=0.5)
    # the library names settings; the CLI shows them as its flags
    assert re.search(r"LiSSA diverged.*smaller --step \(now 0.5\).*larger --damping", caught.value.render(as_flag))
    # negative curvature beyond the damping also diverges
    indefinite = spd_matrix(low=-1.0, high=1.0)
    with pytest.raises(MolpeftError, match="LiSSA diverged"):
        lissa_ihvp(lambda x: indefinite @ x, v, depth=500, damping=0.01, step=0.5)
    with pytest.raises(MolpeftError, match="NaN"):
        lissa_ihvp(lambda x: x * float("nan"), v, depth=5)


def test_cg_refuses_an_indefinite_system(quadratic) -> None:
    _, v = quadratic
    indefinite = spd_matrix(low=-1.0, high=1.0)
    with pytest.raises(MolpeftError) as caught:
        cg_ihvp(lambda x: indefinite @ x, v, damping=0.01)
    assert "larger --damping" in caught.value.render(as_flag)


def test_zero_vector_is_solved_by_zero(quadratic) -> None:
    hessian, _ = quadratic
    zero = torch.zeros(30, dtype=torch.float64)
    for result in (lissa_ihvp(lambda x: hessian @ x, zero), cg_ihvp(lambda x: hessian @ x, zero)):
        assert result.converged and float(result.solution.abs().max()) == 0.0


def test_exact_refuses_large_scopes(mlp_problem) -> None:
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    objective = FlatObjective(mlp_problem.model, mse_loss, names)
    v = torch.ones(objective.n_params, dtype=torch.float64)
    with pytest.raises(MolpeftError, match="dense 161 x 161 Hessian"):
        solve_ihvp(objective, [mlp_problem.train], v, SolverConfig(solver="exact", exact_max_params=100))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("solver", "newton", "unknown solver"),
        ("hvp", "finite-differences", "Hessian-vector product method"),
        ("damping", -1.0, "damping"),
        ("step", 0.0, "step"),
        ("depth", 0, "depth"),
        ("damping", "lots", "number or 'auto'"),
    ],
)
def test_solver_config_validation(field: str, value, message: str) -> None:
    with pytest.raises(MolpeftError, match=message):
        SolverConfig(**{field: value})


def test_original_study_settings_stay_available() -> None:
    config = SolverConfig.original_study()
    assert (config.solver, config.depth, config.damping, config.step) == ("lissa", 200, 0.01, 0.04)
    assert config.to_dict()["step"] == 0.04 and math.isclose(config.tol, 0.01) and config.fixed_depth


def test_solver_config_defaults_converge_by_tolerance() -> None:
    config = SolverConfig()
    assert (config.solver, config.damping, config.step, config.fixed_depth) == ("lissa", "auto", "auto", False)
    assert config.damping_value is None and config.step_value is None  # auto: from the largest eigenvalue
    given = SolverConfig(damping="0.05", step=None)  # the command line's text, or Python's None for auto
    assert (given.damping_value, given.step_value) == (0.05, None) and given.damping == "0.05"
    assert config.depth >= 1000 and 0 < config.tol <= 0.05


def test_unconverged_solve_warns_with_advice(mlp_problem, caplog) -> None:
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    objective = FlatObjective(mlp_problem.model, mse_loss, names)
    v = objective.mean_grad([mlp_problem.valid])
    result = solve_ihvp(objective, [mlp_problem.train], v, SolverConfig(depth=20))
    assert not result.converged
    assert "lissa did not converge" in caplog.text
