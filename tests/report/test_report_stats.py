"""The statistics behind the report: the paired hierarchical bootstrap, cell summaries and selection overlap."""

import numpy as np
import polars as pl
import pytest

from molpeft_cli.report.stats import (
    cell_summary,
    compare_cells,
    hierarchical_bootstrap,
    hierarchical_ratio_bootstrap,
    jaccard,
    mse_ratio,
    selection_overlap,
)


def test_one_seed_without_noise_collapses_to_the_true_difference():
    interval = hierarchical_bootstrap([np.full(25, -0.3)], n_resamples=500, seed=1)
    assert interval.estimate == pytest.approx(-0.3)
    assert interval.low == pytest.approx(-0.3) and interval.high == pytest.approx(-0.3)
    assert interval.excludes_zero and interval.n_seeds == 1 and interval.n_molecules == 25


def test_two_seeds_without_molecule_noise_give_the_seed_level_interval():
    # seeds drawn with replacement: the mean of two draws from {1, 3} is 1, 2 or 3 with p = 1/4, 1/2, 1/4
    interval = hierarchical_bootstrap([np.full(10, 1.0), np.full(10, 3.0)], n_resamples=4000, seed=0)
    assert interval.estimate == pytest.approx(2.0)
    assert (interval.low, interval.high) == pytest.approx((1.0, 3.0))


def test_one_seed_matches_a_plain_bootstrap_and_the_normal_approximation():
    rng = np.random.default_rng(3)
    values = rng.normal(0.2, 1.0, size=300)
    interval = hierarchical_bootstrap([values], n_resamples=4000, seed=5)
    plain_rng = np.random.default_rng(11)
    means = [values[plain_rng.integers(0, values.size, values.size)].mean() for _ in range(4000)]
    low, high = np.quantile(means, [0.025, 0.975])
    assert interval.low == pytest.approx(low, abs=0.02) and interval.high == pytest.approx(high, abs=0.02)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert interval.low == pytest.approx(values.mean() - half, abs=0.03)
    assert interval.high == pytest.approx(values.mean() + half, abs=0.03)


def test_bootstrap_is_seeded():
    values = [np.random.default_rng(0).normal(size=40)]
    assert hierarchical_bootstrap(values, seed=4) == hierarchical_bootstrap(values, seed=4)
    assert hierarchical_bootstrap(values, seed=4) != hierarchical_bootstrap(values, seed=5)


def _predictions(ids, labels, offset):
    return pl.DataFrame({"mol_id": ids, "label": labels, "prediction": np.asarray(labels) + offset})


def test_compare_cells_pairs_on_mol_id_not_row_order():
    ids = [f"m{i}" for i in range(20)]
    labels = np.linspace(-1, 3, 20)
    cell = {0: _predictions(ids, labels, 0.1)}
    reference = {0: _predictions(ids, labels, 0.5).reverse()}  # same molecules, other order
    interval = compare_cells(cell, reference, "toy", n_resamples=300)
    assert interval.estimate == pytest.approx(0.01 - 0.25)
    assert (interval.low, interval.high) == pytest.approx((-0.24, -0.24))
    assert compare_cells(cell, {1: reference[0]}, "no shared seed") is None


def test_cell_summary_spread_needs_two_seeds():
    metrics = pl.DataFrame({"variant": ["two-stage"] * 3, "adapter": ["lora", "lora", "full"],
                            "selection": ["none"] * 3, "seed": [0, 1, 0], "mse": [0.5, 0.9, 1.0],
                            **{c: [1.0] * 3 for c in ("rmse", "mae", "r2", "spearman", "train_seconds",
                                                       "trainable_params", "total_params")}})
    summary = {r["adapter"]: r for r in cell_summary(metrics).iter_rows(named=True)}
    assert summary["lora"]["mse_mean"] == pytest.approx(0.7)
    assert summary["lora"]["mse_sd"] == pytest.approx(np.std([0.5, 0.9], ddof=1))
    assert summary["full"]["mse_sd"] is None and summary["full"]["n_seeds"] == 1


def test_selection_overlap_averages_jaccard_over_seeds():
    table = lambda ids: pl.DataFrame({"mol_id": ids})  # noqa: E731
    selections = {("random", 0): table(["a", "b"]), ("maxmin", 0): table(["b", "c"]),
                  ("random", 1): table(["a", "b"]), ("maxmin", 1): table(["a", "b"]),
                  ("influence", 1): table(["z"])}
    mean, count = selection_overlap(selections, ["random", "maxmin", "influence"])
    assert mean[0, 1] == pytest.approx((1 / 3 + 1.0) / 2) and count[0, 1] == 2
    assert mean[0, 2] == 0.0 and count[0, 2] == 1
    assert mean[2, 2] == 1.0
    assert np.isnan(jaccard(set(), set()))


def test_ratio_of_identical_or_scaled_cells_is_exact():
    errors = np.random.default_rng(2).exponential(size=50)
    same = hierarchical_ratio_bootstrap([(errors, errors)], n_resamples=300, seed=0)
    assert (same.estimate, same.low, same.high) == pytest.approx((1.0, 1.0, 1.0))
    doubled = hierarchical_ratio_bootstrap([(2 * errors, errors), (6 * errors, 3 * errors)], n_resamples=300)
    assert (doubled.estimate, doubled.low, doubled.high) == pytest.approx((2.0, 2.0, 2.0))
    assert doubled.n_seeds == 2 and doubled.n_molecules == 50


def test_ratio_is_of_means_over_seeds_and_matches_the_delta_method():
    rng = np.random.default_rng(7)
    a, b = rng.exponential(0.8, size=400), rng.exponential(1.0, size=400)
    two = hierarchical_ratio_bootstrap([(a, b), (2 * a, b)], n_resamples=200, seed=1)
    assert two.estimate == pytest.approx((a.mean() + 2 * a.mean()) / (2 * b.mean()))
    interval = hierarchical_ratio_bootstrap([(a, b)], n_resamples=4000, seed=3)
    ratio = a.mean() / b.mean()
    # delta method for a ratio of two means of paired values
    gradient = np.array([1 / b.mean(), -a.mean() / b.mean() ** 2])
    se = np.sqrt(gradient @ np.cov(np.vstack([a, b])) @ gradient / a.size)
    assert interval.estimate == pytest.approx(ratio)
    assert interval.low == pytest.approx(ratio - 1.96 * se, abs=0.03)
    assert interval.high == pytest.approx(ratio + 1.96 * se, abs=0.03)


def test_ratio_pairs_on_mol_id_and_needs_shared_seeds():
    ids = [f"m{i}" for i in range(20)]
    labels = np.linspace(-1, 3, 20)
    cell = {0: _predictions(ids, labels, 0.2)}
    reference = {0: _predictions(ids, labels, 0.4).reverse()}
    interval = mse_ratio(cell, reference, "toy", n_resamples=200)
    assert (interval.estimate, interval.low, interval.high) == pytest.approx((0.25, 0.25, 0.25))
    assert mse_ratio(cell, {3: reference[0]}, "no shared seed") is None
    with pytest.raises(ValueError, match="paired"):
        hierarchical_ratio_bootstrap([(np.ones(3), np.ones(4))])
