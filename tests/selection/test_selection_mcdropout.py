"""MC dropout: zero spread without dropout, stacked passes equal looped passes, batch norm left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from selection_helpers import DropoutRegressor, feature_batches, features, lipophilicity_pool, predict

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection import McDropoutConfig, SelectionContext, mc_dropout_predictions, select_pool


def run(model, x, **kwargs):
    return mc_dropout_predictions(model, predict, feature_batches(x), **kwargs)


def test_no_dropout_means_zero_spread() -> None:
    torch.manual_seed(0)
    model = DropoutRegressor(p=0.0)
    x = features(20)
    mean, std = run(model, x, passes=10)
    assert np.all(std == 0)
    model.eval()
    np.testing.assert_allclose(mean, model(x).detach().numpy(), rtol=1e-6)


def test_dropout_gives_positive_spread_and_a_sensible_mean() -> None:
    torch.manual_seed(0)
    model = DropoutRegressor(p=0.3)
    x = features(20)
    mean, std = run(model, x, passes=200)
    assert np.all(std > 0)
    model.eval()  # inverted dropout: the MC mean approaches the deterministic prediction
    assert np.abs(mean - model(x).detach().numpy()).max() < 4 * std.max() / np.sqrt(200)


def test_stacked_passes_equal_looped_passes() -> None:
    # one Dropout layer draws its masks from the RNG in the same order whether the passes are stacked
    # along the batch (pass-major) or run one after another
    torch.manual_seed(0)
    model = DropoutRegressor(p=0.5)
    x = features(20)
    looped = run(model, x, passes=30, seed=5, forward_rows=16)  # one pass per forward
    stacked = run(model, x, passes=30, seed=5, forward_rows=16 * 30)  # all 30 passes in one forward
    chunked = run(model, x, passes=30, seed=5, forward_rows=16 * 7)  # 7 passes per forward
    for other in (stacked, chunked):
        np.testing.assert_allclose(other[0], looped[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(other[1], looped[1], rtol=1e-6, atol=1e-7)
    assert not np.allclose(run(model, x, passes=30, seed=6)[1], looped[1])


def test_only_dropout_is_switched_to_train_mode() -> None:
    torch.manual_seed(0)
    model = DropoutRegressor(p=0.3, batch_norm=True)
    model.norm.running_mean.normal_()
    before = model.norm.running_mean.clone()
    model.train()
    state = torch.random.get_rng_state()
    run(model, features(20), passes=5)
    assert torch.equal(model.norm.running_mean, before)  # batch norm stayed in eval: no statistics update
    assert model.training and model.norm.training and model.dropout.training  # modes restored
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched


def test_select_ranks_by_spread_and_keeps_the_mean(caplog) -> None:
    pool = lipophilicity_pool(40)
    torch.manual_seed(0)
    context = SelectionContext(
        model=DropoutRegressor(), predict=predict, batches=feature_batches(features(40))
    )
    chosen = select_pool(pool, "mcdropout", McDropoutConfig(k=10, passes=20), context)
    scores = chosen["score"].to_numpy()
    assert np.all(np.diff(scores) <= 0) and chosen["prediction_mean"].null_count() == 0
    everything = select_pool(pool, "mcdropout", McDropoutConfig(threshold=0.0, passes=20), context)
    assert everything.height == 40
    cut = float(np.median(everything["score"]))
    above = select_pool(pool, "mcdropout", McDropoutConfig(threshold=cut, passes=20), context)
    assert above.height == int((everything["score"] >= cut).sum())
    no_dropout = SelectionContext(
        model=torch.nn.Linear(4, 1), predict=predict, batches=feature_batches(features(40))
    )
    select_pool(pool, "mcdropout", McDropoutConfig(k=5, passes=2), no_dropout)
    assert "no Dropout modules" in caplog.text


def test_mcdropout_input_errors() -> None:
    pool = lipophilicity_pool(40)
    with pytest.raises(MolpeftError, match="needs a model"):
        select_pool(pool, "mcdropout")
    short = SelectionContext(model=DropoutRegressor(), predict=predict, batches=feature_batches(features(30)))
    with pytest.raises(MolpeftError, match="30 predictions for 40"):
        select_pool(pool, "mcdropout", McDropoutConfig(passes=3), short)
    with pytest.raises(MolpeftError, match="passes"):
        McDropoutConfig(passes=1)
