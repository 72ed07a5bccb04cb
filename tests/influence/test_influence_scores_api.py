"""influence_scores end to end on a dict-input model: head scope, dropout switched off, JSON-ready summary."""

from __future__ import annotations

import json

import numpy as np
import torch
from influence_helpers import TokenRegressor, token_loss

from molpeft_cli.influence import SCORE_COLUMNS, SolverConfig, influence_scores
from molpeft_cli.influence.batches import index_rows, map_tensors


def test_head_scope_on_dict_batches(token_batch) -> None:
    torch.manual_seed(0)
    model = TokenRegressor().double()
    model.train()
    train = [token_batch, map_tensors(lambda t: t.flip(0), token_batch)]
    pool = [index_rows(token_batch, 0), {k: v[1:] for k, v in token_batch.items()}]
    result = influence_scores(
        model,
        token_loss,
        train,
        [token_batch],
        pool,
        scope="head",
        solver=SolverConfig(solver="cg", damping=0.1, cg_tol=1e-10),
    )
    assert result.param_names == ["head.weight", "head.bias"] and result.n_params == 7
    assert result.scores.shape == (5,) and np.isfinite(result.scores).all()
    assert model.training and model.dropout.training  # modes restored
    # same answer from the exact solver with the other HVP method: dropout really was off
    exact = influence_scores(
        model,
        token_loss,
        train,
        [token_batch],
        pool,
        scope="head",
        solver=SolverConfig(solver="exact", damping=0.1, hvp="forward-over-reverse"),
    )
    np.testing.assert_allclose(exact.scores, result.scores, rtol=1e-8, atol=1e-12)
    frame = result.to_frame(token_batch["mol_id"])
    assert frame.columns == list(SCORE_COLUMNS)
    json.dumps(result.summary())
