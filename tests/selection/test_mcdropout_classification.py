"""MC dropout on a classifier: BALD and predictive entropy against a hand computation, BALD by default with the
measure recorded, the measures refused for regression, and `molpeft select` on a tiny classification checkpoint."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from selection_helpers import DropoutRegressor, feature_batches, features, lipophilicity_pool

from molpeft_cli.errors import SettingError
from molpeft_cli.selection import REGISTRY, McDropoutConfig, SelectionContext, select_pool
from molpeft_cli.selection.uncertainty import bald, binary_entropy, predictive_entropy, resolve_uncertainty
from tests.classification_checkpoint import binary_split_and_pool, classification_checkpoint
from tests.conftest import assert_one_line_error, invoke

# (passes, rows) probabilities: confident agreement, disagreement, certain 0/1 passes, uniform 0.5
PROBABILITIES = np.array([[0.9, 0.1, 1.0, 0.5, 0.0],
                          [0.9, 0.9, 1.0, 0.5, 1.0],
                          [0.9, 0.5, 1.0, 0.5, 0.0],
                          [0.9, 0.3, 1.0, 0.5, 1.0]])


def hand_entropy(p: float) -> float:
    """-p ln p - (1-p) ln(1-p), with 0 ln 0 = 0."""
    return -sum(q * np.log(q) for q in (p, 1 - p) if q > 0)


def test_bald_and_entropy_against_a_hand_computation() -> None:
    t = torch.tensor(PROBABILITIES, dtype=torch.float64)
    expected_h = [hand_entropy(PROBABILITIES[:, j].mean()) for j in range(5)]
    expected_bald = [expected_h[j] - np.mean([hand_entropy(p) for p in PROBABILITIES[:, j]]) for j in range(5)]
    np.testing.assert_allclose(predictive_entropy(t).numpy(), expected_h, rtol=1e-12)
    np.testing.assert_allclose(bald(t).numpy(), expected_bald, rtol=1e-12, atol=1e-15)
    # the cases spelled out: agreement -> no mutual information; passes certain of opposite classes -> ln 2
    assert bald(t)[0] == pytest.approx(0.0, abs=1e-15) and bald(t)[2] == 0.0 and bald(t)[3] == 0.0
    assert bald(t)[4] == pytest.approx(np.log(2)) and predictive_entropy(t)[3] == pytest.approx(np.log(2))
    assert binary_entropy(torch.tensor([0.0, 1.0, 0.5])).tolist() == pytest.approx([0.0, 0.0, np.log(2)])


def test_the_measure_follows_the_task() -> None:
    assert resolve_uncertainty("auto", "regression") == "std"
    assert resolve_uncertainty("auto", "classification") == "bald"
    assert resolve_uncertainty("entropy", "classification") == "entropy"
    assert resolve_uncertainty("std", "classification") == "std"
    with pytest.raises(SettingError, match="uncertainty bald needs a classification checkpoint"):
        resolve_uncertainty("bald", "regression")
    with pytest.raises(SettingError, match="unknown uncertainty"):
        McDropoutConfig(uncertainty="variance")
    # regression records stay as before the setting: auto is left out
    assert "uncertainty" not in McDropoutConfig().to_dict()
    assert McDropoutConfig().for_task("regression") == McDropoutConfig()
    assert McDropoutConfig().for_task("classification").to_dict()["uncertainty"] == "bald"
    assert REGISTRY["mcdropout"].needs == frozenset({"model"})


def probability(model, batch):
    return torch.sigmoid(model(batch))


def classifier_context(n: int) -> SelectionContext:
    torch.manual_seed(0)
    return SelectionContext(model=DropoutRegressor(p=0.4), predict=probability,
                            batches=feature_batches(features(n)), task="classification")


def hand_passes(context: SelectionContext, passes: int, seed: int) -> np.ndarray:
    """(passes, rows) probabilities, one forward per pass per batch, in the order MC dropout draws the masks."""
    model = context.model
    model.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        blocks = [torch.stack([probability(model, batch) for _ in range(passes)]) for batch in context.batches]
    model.eval()
    return torch.cat(blocks, dim=1).double().numpy()


@pytest.mark.parametrize("uncertainty", ["auto", "entropy", "std"])
def test_select_on_a_classifier_scores_by_the_measure(uncertainty: str) -> None:
    pool = lipophilicity_pool(32)
    context = classifier_context(32)
    config = McDropoutConfig(k=32, passes=12, seed=4, forward_rows=16, uncertainty=uncertainty)  # one pass a forward
    chosen = select_pool(pool, "mcdropout", config, context)
    samples = hand_passes(context, 12, 4)
    mean = samples.mean(0)
    expected = {
        "auto": [hand_entropy(mean[j]) - np.mean([hand_entropy(p) for p in samples[:, j]]) for j in range(32)],
        "entropy": [hand_entropy(m) for m in mean],
        "std": samples.std(0, ddof=1),
    }[uncertainty]
    by_id = dict(zip(pool["mol_id"].to_list(), expected, strict=True))
    np.testing.assert_allclose(chosen["score"].to_numpy(), [by_id[m] for m in chosen["mol_id"]], rtol=1e-6,
                               atol=1e-9)
    means = dict(zip(pool["mol_id"].to_list(), mean, strict=True))
    np.testing.assert_allclose(chosen["prediction_mean"].to_numpy(), [means[m] for m in chosen["mol_id"]],
                               rtol=1e-6)
    assert np.all(np.diff(chosen["score"].to_numpy()) <= 0)
    assert chosen["uncertainty"].unique().to_list() == ["bald" if uncertainty == "auto" else uncertainty]


def test_regression_output_has_no_uncertainty_column() -> None:
    pool = lipophilicity_pool(20)
    torch.manual_seed(0)
    context = SelectionContext(model=DropoutRegressor(), predict=lambda m, b: m(b),
                               batches=feature_batches(features(20)))
    chosen = select_pool(pool, "mcdropout", McDropoutConfig(k=5, passes=5), context)
    assert "uncertainty" not in chosen.columns
    with pytest.raises(SettingError, match="needs a classification checkpoint"):
        select_pool(pool, "mcdropout", McDropoutConfig(k=5, passes=5, uncertainty="entropy"), context)


@pytest.fixture(scope="module")
def binary_checkpoint(tmp_path_factory, tiny_base):
    directory = tmp_path_factory.mktemp("mc-classification")
    split, pool = binary_split_and_pool(directory)
    return directory, split, pool, classification_checkpoint(tiny_base, split, directory / "ck", epochs=1)


def test_select_command_on_a_classification_checkpoint(runner, binary_checkpoint) -> None:
    directory, split, pool, ck = binary_checkpoint
    out = directory / "mc.parquet"
    base = ["select", str(pool), "--strategy", "mcdropout", "--model", str(ck), "--passes", "6", "-k", "8",
            "--exclude", str(split)]
    result = invoke(runner, [*base, "-o", str(out)])
    assert result.exit_code == 0, result.output
    chosen = pl.read_parquet(out)
    assert chosen.height == 8 and chosen["uncertainty"].unique().to_list() == ["bald"]
    assert (chosen["score"] >= 0).all() and (chosen["score"] <= np.log(2) + 1e-9).all()
    assert ((chosen["prediction_mean"] > 0) & (chosen["prediction_mean"] < 1)).all()
    manifest = json.loads((directory / "mc.parquet.manifest.json").read_text())
    record = manifest["selection"]
    assert record["uncertainty"] == "bald" and record["task"] == "classification"
    assert record["config"]["uncertainty"] == "bald"
    assert "uncertainty" not in manifest["params"]  # auto: the setting as given is left out
    result = invoke(runner, [*base, "--uncertainty", "entropy", "-o", str(directory / "entropy.parquet")])
    assert result.exit_code == 0, result.output
    entropy = pl.read_parquet(directory / "entropy.parquet")
    assert entropy["uncertainty"].unique().to_list() == ["entropy"]
    params = json.loads((directory / "entropy.parquet.manifest.json").read_text())["params"]
    assert params["uncertainty"] == "entropy"
    assert_one_line_error(invoke(runner, [*base, "--uncertainty", "variance", "-o", "-"]), "--uncertainty")
