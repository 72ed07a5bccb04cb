"""The uncertainty check in the report's selection part: fabricated mcdropout selection manifests with (and
without) the `validation_uncertainty` record, regression and classification."""

import json

import numpy as np
import polars as pl
import pytest

from molpeft_cli.report import ReportOptions, build_report
from molpeft_cli.report.uncertainty import (
    TITLE,
    calibration_word,
    checks,
    coverage_range,
    informative,
    spearman_interval,
    uncertainty_section,
)
from tests.report.run_factory import CELL_MSE, make_run_dir, scaled_errors, write_cell
from tests.report.test_report_build import md_row, section_text

LEVELS = [0.1, 0.3, 0.5, 0.7, 0.9, 0.95]
REGRESSION_CHECK = {"n": 150, "spearman": -0.09, "coverage_95": 0.65, "uncertainty": "std",
                    "calibration": [{"level": level, "observed": round(0.7 * level, 3)} for level in LEVELS]}
CLASSIFICATION_CHECK = {"n": 200, "spearman": 0.4, "uncertainty": "bald",
                        "reliability": [{"bin": i, "mean_predicted": (i + 0.5) / 5, "observed": (i + 0.3) / 5,
                                         "count": 40} for i in range(5)]}


def manifest(strategy: str, seed: int, check: dict | None) -> dict:
    """A select manifest as `molpeft select` writes it: the check beside the selection record."""
    return {"command": "select", "params": {"strategy": strategy, "k": 10, "threshold": None}, "seed": seed,
            "selection": {"excluded": 0}, **({"validation_uncertainty": check} if check else {})}


def test_the_spearman_interval_and_the_coverage_range_equal_hand_computations():
    # Fisher's z: atanh(0.3) -/+ 1.959964 * sqrt(1.06 / 100), back through tanh (computed with scipy's norm.ppf)
    assert spearman_interval(0.3, 103) == pytest.approx((0.10731414, 0.47096545))
    assert spearman_interval(-0.09, 150) == pytest.approx((-0.25118602, 0.07604285))
    assert all(v != v for v in spearman_interval(0.5, 3))  # too few molecules: no interval
    assert coverage_range(150) == pytest.approx((0.91512154, 0.98487846))


def test_the_rules_name_an_uninformative_over_confident_uncertainty():
    (regression,), _ = checks({("mcdropout", 0): manifest("mcdropout", 0, REGRESSION_CHECK)})
    assert informative(regression) == "no" and calibration_word(regression) == "over-confident"
    (classification,), _ = checks({("mcdropout", 0): manifest("mcdropout", 0, CLASSIFICATION_CHECK)})
    assert informative(classification) == "yes" and calibration_word(classification) == "n/a"
    calibrated, _ = checks({("mcdropout", 1): manifest("mcdropout", 1, {**REGRESSION_CHECK, "coverage_95": 0.95,
                                                                        "spearman": -0.5})})
    assert calibration_word(calibrated[0]) == "calibrated" and informative(calibrated[0]) == "no (inversely related)"


@pytest.fixture(scope="module")
def mcdropout_report(tmp_path_factory):
    """The synthetic run with mcdropout cells: seed 0's manifest has the check, seed 1's (an older run's) not."""
    run = make_run_dir(tmp_path_factory.mktemp("mc") / "run", seeds=(0, 1))
    test = pl.read_parquet(run / "data" / "split.parquet").filter(pl.col("split") == "test")
    rng = np.random.default_rng(2)
    for seed in (0, 1):
        write_cell(run, ("two-stage", "full", "mcdropout"), seed, test,
                   scaled_errors(rng, test.height, CELL_MSE[("two-stage", "full", "none")][seed]))
        table = run / "selections" / f"mcdropout-s{seed}.parquet"
        pl.read_parquet(run / "data" / "pool.parquet").head(10).write_parquet(table)
        table.with_name(table.name + ".manifest.json").write_text(
            json.dumps(manifest("mcdropout", seed, REGRESSION_CHECK if seed == 0 else None)))
    return build_report(run, tmp_path_factory.mktemp("mc-report") / "report",
                        ReportOptions(baseline=False, chemprop=False))


def test_the_report_shows_the_check_per_seed_and_says_what_was_not_measured(mcdropout_report):
    markdown = (mcdropout_report / "report.md").read_text()
    section = section_text(markdown, TITLE)
    row = md_row(markdown, "mcdropout", TITLE)
    assert row == ["mcdropout", "0", "std", "150", "-0.09", "[-0.25, 0.08]", "no", "0.65", "over-confident"]
    assert "in 0 of 1 seed(s)" in section and "variance 1.06/(n − 3)" in section
    assert "Not measured for mcdropout seed 1" in section
    assert (mcdropout_report / "figures" / "uncertainty_calibration.png").read_bytes()[:4] == b"\x89PNG"
    assert markdown.index("## Selection overlap") < markdown.index(f"## {TITLE}")


def test_a_classification_check_draws_a_reliability_diagram(tmp_path):
    manifests = {("mcdropout", s): manifest("mcdropout", s, CLASSIFICATION_CHECK) for s in (0, 1)}
    section = uncertainty_section(manifests, ["none", "mcdropout"], tmp_path)
    table = next(b for b in section.blocks if hasattr(b, "rows"))
    assert table.header[-1] == "informative" and [r[-1] for r in table.rows] == ["yes", "yes"]
    figure = next(b for b in section.blocks if hasattr(b, "path"))
    assert figure.path.name == "uncertainty_calibration.png" and "Reliability diagram" in figure.caption
    assert figure.path.is_file()


def test_runs_without_an_uncertainty_selection_have_no_such_section(three_seed_report, tmp_path):
    assert f"## {TITLE}" not in (three_seed_report / "report.md").read_text()
    assert uncertainty_section({}, ["none", "random"], tmp_path) is None
    older = uncertainty_section({}, ["none", "mcdropout"], tmp_path)  # cells but no manifest found
    assert "Not measured for mcdropout" in older.blocks[0].text
