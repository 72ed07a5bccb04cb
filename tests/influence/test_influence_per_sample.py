"""Per-sample gradients: vmap over functional_call equals one backward pass per row, also for dict inputs."""

from __future__ import annotations

import torch
from influence_helpers import TokenRegressor, mse_loss, token_loss
from torch import nn

from molpeft_cli.influence import FlatObjective, PerSampleGrads, eval_mode
from molpeft_cli.influence.batches import index_rows


def rowwise(objective: FlatObjective, batch, rows: int) -> torch.Tensor:
    return torch.stack([objective.grad(index_rows(batch, i)) for i in range(rows)])


def test_mlp_per_sample_grads_match_rowwise(mlp_problem) -> None:
    names = [name for name, _ in mlp_problem.model.named_parameters()]
    objective = FlatObjective(mlp_problem.model, mse_loss, names)
    batch = (mlp_problem.pool[0][:12], mlp_problem.pool[1][:12])
    per_sample = PerSampleGrads(objective, chunk_size=5)
    torch.testing.assert_close(per_sample(batch), rowwise(objective, batch, 12))
    assert per_sample.vectorised


def test_dict_inputs_with_padding_and_non_tensor_values(token_batch) -> None:
    torch.manual_seed(0)
    model = TokenRegressor().double()
    model.train()  # eval_mode must switch dropout off and restore this afterwards
    with eval_mode(model):
        objective = FlatObjective(model, token_loss, [n for n, _ in model.named_parameters()])
        per_sample = PerSampleGrads(objective)
        got = per_sample(token_batch)
        assert per_sample.vectorised
        torch.testing.assert_close(got, rowwise(objective, token_batch, 5))
        # the mean of per-sample gradients is the batch gradient
        torch.testing.assert_close(got.mean(0), objective.grad(token_batch))
    assert model.training and model.dropout.training


class ItemModel(nn.Module):
    """Data-dependent Python control flow: vmap cannot run it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lin(x)
        return out if float(x.sum()) > -1e9 else -out


def test_loop_fallback_warns_and_matches(caplog) -> None:
    torch.manual_seed(0)
    model = ItemModel()
    objective = FlatObjective(model, mse_loss, ["lin.weight", "lin.bias"])
    x = torch.randn(4, 3, dtype=torch.float64)
    batch = (x, torch.randn(4, dtype=torch.float64))
    per_sample = PerSampleGrads(objective)
    got = per_sample(batch)
    assert not per_sample.vectorised
    assert "per-row loop" in caplog.text
    torch.testing.assert_close(got, rowwise(objective, batch, 4))
