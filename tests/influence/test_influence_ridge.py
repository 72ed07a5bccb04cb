"""Ridge regression on fixed features: influence ranks pool points like actual leave-one-in retraining.

Training objective: (1/n) sum_i (x_i w - y_i)^2 + (damping/2) |w|^2, so H + damping*I is the ridge Hessian
exactly and the fitted weights are in closed form. Adding pool point z with the same 1/n weight is an
upweighting by eps = 1/n, so the change of validation loss should be about -score(z)/n: this pins the sign
(positive score = adding z lowers the validation loss). n is large so that second-order terms stay small.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from influence_helpers import mse_loss, row_batches
from scipy.stats import spearmanr
from torch import nn

from molpeft_cli.influence import SolverConfig, influence_scores

N_TRAIN, N_POOL, DIM, RIDGE = 2000, 60, 6, 0.1


def ridge_fit(x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    system = 2 * x.T @ x / n + RIDGE * torch.eye(DIM, dtype=torch.float64)
    return torch.linalg.solve(system, 2 * x.T @ y / n)


def val_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(((x @ w - y) ** 2).mean())


def retrained_val_loss(train, valid, x_new: torch.Tensor, y_new: torch.Tensor) -> float:
    """Refit with one more training row (weight 1/n like the others) and return the validation loss."""
    x = torch.cat([train[0], x_new.unsqueeze(0)])
    y = torch.cat([train[1], y_new.unsqueeze(0)])
    return val_loss(ridge_fit(x, y, N_TRAIN), *valid)


@pytest.fixture(scope="module")
def ridge():
    gen = torch.Generator().manual_seed(7)
    true_w = torch.randn(DIM, generator=gen, dtype=torch.float64)

    def data(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, DIM, generator=gen, dtype=torch.float64)
        return x, x @ true_w + noise * torch.randn(n, generator=gen, dtype=torch.float64)

    train, valid, pool = data(N_TRAIN, 0.5), data(80, 0.5), data(N_POOL, 0.5)
    pool_y = pool[1].clone()
    pool_y[::3] += 4 * torch.randn(N_POOL // 3 + (N_POOL % 3 > 0), generator=gen, dtype=torch.float64)
    pool = (pool[0], pool_y)  # a third with badly wrong labels: large moves, scores of both signs
    w = ridge_fit(*train, N_TRAIN)
    base = val_loss(w, *valid)
    change = np.array(
        [retrained_val_loss(train, valid, pool[0][i], pool[1][i]) - base for i in range(N_POOL)]
    )
    model = nn.Linear(DIM, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w.unsqueeze(0))
    return model, train, valid, pool, change


@pytest.mark.parametrize(
    "config",
    [
        SolverConfig(solver="exact", damping=RIDGE),
        SolverConfig(solver="cg", damping=RIDGE, cg_tol=1e-10),
        # H = 2 X^T X / n ~ 2 I (isotropic features): step 0.2 puts step*(H_t + damping I) near 0.42 on
        # every 250-row minibatch, and 0.58^200 vanishes
        SolverConfig(solver="lissa", damping=RIDGE, step=0.2, depth=200, repeats=2),
    ],
    ids=lambda c: c.solver,
)
def test_influence_ranks_like_leave_one_in_retraining(ridge, config: SolverConfig) -> None:
    model, train, valid, pool, change = ridge
    result = influence_scores(
        model,
        mse_loss,
        row_batches(*train, 250),
        [valid],
        row_batches(*pool, 25),
        scope="all",
        solver=config,
    )
    assert spearmanr(result.scores, -change)[0] >= 0.9
    # the sign: positive score <=> retraining with the point lowers the validation loss
    assert np.mean(np.sign(result.scores) == np.sign(-change)) >= 0.9
    # first order in eps = 1/n: the change is about -score/n (slope ~1; second-order terms bend large moves)
    predicted = -result.scores / N_TRAIN
    slope = float(predicted @ change / (predicted @ predicted))
    assert 0.8 <= slope <= 1.25
    frame = result.to_frame([f"p{i}" for i in range(N_POOL)])
    assert frame.columns == ["mol_id", "score", "grad_norm"] and frame.height == N_POOL
