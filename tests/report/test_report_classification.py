"""The report of binary-classification cells: ROC-AUC in the matrix, the differences and the ratios (higher is
better everywhere), the bootstrap recomputing ROC-AUC per resample (against scikit-learn), ROC and calibration curves,
and the random-forest classifier baseline."""

import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from molpeft_cli.report import ForestConfig, ReportOptions, build_report
from molpeft_cli.report.baseline import fit_forest
from molpeft_cli.report.figures import reliability, roc_points
from molpeft_cli.report.stats import (
    auc_difference_bootstrap,
    auc_ratio_bootstrap,
    compare_cells,
    metric_ratio,
    roc_auc_rows,
)
from molpeft_cli.tasks import CLASSIFICATION
from tests.report.chained_factory import (
    CLASSIFICATION_CELLS,
    classification_folder,
    split_table,
    task_metrics_available,  # noqa: F401 (a fixture)
)
from tests.report.test_report_build import md_row, section_text

OPTIONS = ReportOptions(n_resamples=400, forest=ForestConfig(n_trees=30), chemprop=False)


@pytest.fixture
def classification_report(tmp_path, task_metrics_available):  # noqa: F811
    folder = classification_folder(tmp_path / "chained")
    return folder, build_report(folder, tmp_path / "report", OPTIONS)


def test_roc_auc_rows_match_scikit_learn_with_ties_and_one_class():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(30, 25))
    scores = np.round(rng.uniform(size=(30, 25)), 1)  # many ties
    expected = [roc_auc_score(y, s) for y, s in zip(labels, scores, strict=True)]
    assert roc_auc_rows(labels, scores) == pytest.approx(expected, abs=1e-12)
    assert np.isnan(roc_auc_rows(np.ones(5), np.arange(5.0))[0])


def test_the_auc_interval_brackets_the_estimate_and_the_estimate_is_sklearns():
    rng = np.random.default_rng(1)
    labels = (rng.uniform(size=80) < 0.4).astype(float)
    good = 1 / (1 + np.exp(-(2.0 * (2 * labels - 1) + rng.normal(size=80))))
    poor = 1 / (1 + np.exp(-(0.3 * (2 * labels - 1) + rng.normal(size=80))))
    interval = auc_difference_bootstrap([(labels, good, poor)], n_resamples=1000, seed=2)
    assert interval.estimate == pytest.approx(roc_auc_score(labels, good) - roc_auc_score(labels, poor))
    assert interval.low < interval.estimate < interval.high and interval.low > 0  # clearly better
    ratio = auc_ratio_bootstrap([(labels, good, poor)], n_resamples=1000, seed=2)
    assert ratio.estimate == pytest.approx(roc_auc_score(labels, good) / roc_auc_score(labels, poor))
    assert ratio.low < ratio.estimate < ratio.high and ratio.low > 1
    same = auc_difference_bootstrap([(labels, good, good)], n_resamples=200, seed=0)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)


def test_the_bootstrap_recomputes_auc_on_each_resample():
    """One resample by hand: the same draws as the bootstrap's generator, ROC-AUC from scikit-learn."""
    rng = np.random.default_rng(4)
    labels = (rng.uniform(size=30) < 0.5).astype(float)
    cell, reference = rng.uniform(size=30), rng.uniform(size=30)
    interval = auc_difference_bootstrap([(labels, cell, reference)], n_resamples=100, seed=9)
    draws = np.random.default_rng(9)
    draws.integers(0, 1, size=(100, 1))  # the seed draw (one seed)
    picks = draws.integers(0, 30, size=(100, 30))
    by_hand = []
    for pick in picks:
        if 0 < labels[pick].sum() < 30:
            by_hand.append(roc_auc_score(labels[pick], cell[pick]) - roc_auc_score(labels[pick], reference[pick]))
    low, high = np.quantile(by_hand, [0.025, 0.975])
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)


def test_cells_compare_on_roc_auc_for_classification():
    ids = [f"m{i}" for i in range(40)]
    labels = np.tile([0.0, 1.0], 20)
    table = lambda p: pl.DataFrame({"mol_id": ids, "label": labels, "prediction": p})  # noqa: E731
    perfect, flipped = table(labels * 0.8 + 0.1), table(np.r_[labels[:20] * 0.8 + 0.1, 0.9 - labels[20:] * 0.8])
    difference = compare_cells({0: perfect}, {0: flipped.reverse()}, "toy", 300, task=CLASSIFICATION)
    expected = 1.0 - roc_auc_score(labels, flipped["prediction"].to_numpy())
    assert difference.estimate == pytest.approx(expected)
    ratio = metric_ratio({0: perfect}, {0: flipped}, "toy", 300, task=CLASSIFICATION)
    assert ratio.estimate == pytest.approx(1.0 / roc_auc_score(labels, flipped["prediction"].to_numpy()))


def test_roc_points_and_reliability_bins_match_references():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=60)
    scores = np.round(rng.uniform(size=60), 2)
    fpr, tpr = roc_points(labels, scores)
    ref_fpr, ref_tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    assert fpr == pytest.approx(ref_fpr) and tpr == pytest.approx(ref_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(labels, scores))
    mean_p, observed, count = reliability(np.array([0, 1, 1, 0, 1]), np.array([0.05, 0.08, 0.55, 0.52, 1.0]), 10)
    assert mean_p == pytest.approx([0.065, 0.535, 1.0]) and observed == pytest.approx([0.5, 0.5, 1.0])
    assert count.tolist() == [2, 2, 1]


def test_the_forest_baseline_is_a_classifier_scored_on_probabilities(task_metrics_available):  # noqa: F811
    split = split_table(CLASSIFICATION)
    row, predictions = fit_forest(split, 0, ForestConfig(n_trees=25), CLASSIFICATION)
    test = predictions.filter(pl.col("split") == "test")
    assert set(test["label"].unique()) == {0.0, 1.0}
    p = test["probability"].to_numpy()
    assert (p >= 0).all() and (p <= 1).all() and (test["prediction"] == test["probability"]).all()
    assert row["roc_auc"] == pytest.approx(roc_auc_score(test["label"].to_numpy(), p))
    assert row["task"] == CLASSIFICATION and "mse" not in row


def test_classification_report_is_in_roc_auc_with_curves_and_the_rf_classifier(classification_report):
    folder, report = classification_report
    markdown = (report / "report.md").read_text()
    assert "## Test ROC-AUC: adapter × selection" in markdown and "MSE" not in markdown
    assert "threshold-free" in markdown and "insensitive to the class balance" in markdown
    cells = pl.read_parquet(report / "cells.parquet")
    assert {"roc_auc", "pr_auc", "log_loss", "brier"} <= set(cells.columns) and "mse" not in cells.columns
    lora = md_row(markdown, "lora", "Test ROC-AUC: adapter × selection")
    means = cells.filter(pl.col("adapter") == "lora").group_by("selection").agg(pl.col("roc_auc").mean())
    expected = dict(means.iter_rows())
    assert lora[1].startswith(f"{expected['none']:.3f} ±")
    assert lora[2].startswith(f"**{expected['random']:.3f} ±")  # the HIGHER ROC-AUC is bold
    forest = md_row(markdown, "RF classifier (30 trees)", "Test ROC-AUC: adapter × selection")
    assert forest[1] and "RandomForestClassifier" in markdown and "predict_proba" in markdown
    figures = {p.name for p in (report / "figures").glob("*.png")}
    assert {"roc.png", "calibration.png", "roc_auc_by_selection.png"} <= figures and "parity.png" not in figures
    assert "## ROC and calibration curves" in markdown and "## Parity plots" not in markdown
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["task"] == CLASSIFICATION and manifest["main_metric"] == "roc_auc"
    baseline = pl.read_parquet(folder / "baseline" / "rf-s0.metrics.parquet")
    assert baseline["task"][0] == CLASSIFICATION and "roc_auc" in baseline.columns


def test_the_headline_ranks_higher_roc_auc_as_better(classification_report):
    _, report = classification_report
    markdown = (report / "report.md").read_text()
    headline = section_text(markdown, "Headline")
    strengths = {a: s for (a, sel), s in CLASSIFICATION_CELLS.items() if sel == "random"}
    assert strengths["lora"] > strengths["full"]  # lora/random was made the strongest cell
    lora = md_row(markdown, "lora", "Headline")
    assert lora[3].endswith("(random)")  # its best cell is the highest ROC-AUC, not the lowest
    assert "the best cell here, lora/random" in headline
    beat = headline.split("Holm-adjusted p < 0.05 over the comparisons shown), of 2 compared: ", 1)[1].split("\n", 1)[0]
    assert beat.startswith("lora/random 0.") and "full/random" not in beat
    ratios = pl.read_parquet(report / "ratios.parquet")
    best = ratios.filter((pl.col("comparison") == "best cells") & (pl.col("adapter") == "lora")).row(0, named=True)
    assert best["ratio"] > 1 and best["selection"] == "random" and best["full_selection"] == "random"
    differences = pl.read_parquet(report / "differences.parquet")
    assert "delta_roc_auc" in differences.columns
    row = differences.filter((pl.col("adapter") == "lora") & (pl.col("selection") == "random")).row(0, named=True)
    assert row["ci_low"] > 0 and "better (higher ROC-AUC)" in section_text(markdown,
                                                                            "Statistics: differences to no added data")
