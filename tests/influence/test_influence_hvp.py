"""Hessian-vector products: double backward = forward-over-reverse = explicit Hessian times v."""

from __future__ import annotations

import pytest
import torch
from influence_helpers import mse_loss, row_batches

from molpeft_cli.influence import FlatObjective, batch_hvp, dense_hessian, full_batch_hvp


@pytest.fixture
def objective(mlp_problem) -> FlatObjective:
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    return FlatObjective(mlp_problem.model, mse_loss, names)


def explicit_hessian(objective: FlatObjective, batch) -> torch.Tensor:
    return torch.autograd.functional.hessian(lambda flat: objective.loss(flat, batch), objective.theta)


def test_hvp_methods_agree_with_explicit_hessian(objective, mlp_problem) -> None:
    batch = (mlp_problem.train[0][:40], mlp_problem.train[1][:40])
    hessian = explicit_hessian(objective, batch)
    v = torch.randn(objective.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    reference = hessian @ v
    for method in ("double-backward", "forward-over-reverse"):
        got = batch_hvp(objective, batch, v, method)
        torch.testing.assert_close(got, reference, rtol=1e-10, atol=1e-10)


def test_dense_hessian_and_full_batch_average(objective, mlp_problem) -> None:
    x, y = mlp_problem.train
    x, y = x[:50], y[:50]
    reference = explicit_hessian(objective, (x, y))
    batches = row_batches(x, y, 16)  # sizes 16, 16, 16, 2: the average must weight by rows
    for method in ("double-backward", "forward-over-reverse"):
        torch.testing.assert_close(dense_hessian(objective, batches, method, chunk_size=40), reference)
    v = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    torch.testing.assert_close(full_batch_hvp(objective, batches, "double-backward")(v), reference @ v)


def test_frozen_parameters_stay_fixed(mlp_problem) -> None:
    # scope = last layer only: its Hessian block equals the full Hessian's block
    model = mlp_problem.model
    all_names = [name for name, _ in model.named_parameters()]
    full = FlatObjective(model, mse_loss, all_names)
    head = FlatObjective(model, mse_loss, ["2.weight", "2.bias"])
    batch = (mlp_problem.train[0][:30], mlp_problem.train[1][:30])
    block = explicit_hessian(full, batch)[-17:, -17:]
    torch.testing.assert_close(dense_hessian(head, [batch], "double-backward"), block)
