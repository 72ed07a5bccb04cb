"""Verdicts that hold: bootstrap p-values, Holm's step-down correction over the matrix's comparisons, no verdict
from one seed (unit checks against hand computations, and the reports of the synthetic runs)."""

import numpy as np
import polars as pl
import pytest

from molpeft_cli.report.stats import (
    NO_CLEAR,
    ONE_SEED,
    bootstrap_p_value,
    hierarchical_bootstrap,
    holm,
    verdicts,
)
from tests.report.test_report_build import section_text


def test_holm_equals_a_hand_computation():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04 -> max with 0.06 = 0.06)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # missing p-values are not comparisons: m = 2 here; adjusted values are capped at 1
    adjusted = holm([0.2, None, 0.7, float("nan")])
    assert adjusted[0] == pytest.approx(0.4) and adjusted[2] == pytest.approx(0.7)
    assert adjusted[1] is None and adjusted[3] is None
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []


def test_bootstrap_p_value_is_twice_the_smaller_tail_with_plus_one():
    assert bootstrap_p_value(np.array([-1.0, -0.5, 0.2, 0.3, 0.4])) == pytest.approx(2 * 3 / 6)
    assert bootstrap_p_value(np.full(999, 0.5)) == pytest.approx(2 * 1 / 1000)  # never 0 from B resamples
    assert bootstrap_p_value(np.array([0.1, np.nan, 0.2, -0.3])) == pytest.approx(min(1.0, 2 * 2 / 4))
    assert bootstrap_p_value(np.array([np.nan])) != bootstrap_p_value(np.array([np.nan]))  # NaN: no resamples


def test_the_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(0)
    clear = hierarchical_bootstrap([rng.normal(-1.0, 1.0, 60) for _ in range(3)], seed=1)
    null = hierarchical_bootstrap([rng.normal(0.0, 1.0, 60) for _ in range(3)], seed=1)
    assert clear.excludes_zero and clear.p_value < 0.01
    assert not null.excludes_zero and null.p_value > 0.05


def _table(rows):
    return pl.DataFrame(rows, orient="row", schema={"adapter": pl.String, "selection": pl.String, "n_seeds": pl.Int64,
                                      "ci_low": pl.Float64, "ci_high": pl.Float64, "p_value": pl.Float64})


def test_one_seed_gives_no_verdict_even_with_a_tiny_p():
    judged = verdicts(_table([("full", "random", 1, -0.9, -0.5, 0.001)]), "mse")
    assert judged["verdict"].to_list() == [ONE_SEED] and judged["p_holm"][0] == pytest.approx(0.001)


def test_a_clear_effect_over_three_seeds_holds_after_holm():
    rows = [("full", "influence", 3, -1.06, -0.46, 0.001), ("full", "random", 3, -0.3, 0.3, 0.9),
            ("lora", "random", 3, 0.05, 0.4, 0.004), ("lora", "maxmin", 3, -0.2, 0.1, 0.5)]
    judged = verdicts(_table(rows), "mse")
    assert judged["p_holm"].to_list() == pytest.approx([0.004, 1.0, 0.012, 1.0])
    assert judged["verdict"].to_list() == ["better", NO_CLEAR, "worse", NO_CLEAR]  # lower MSE is better
    assert verdicts(_table(rows), "roc_auc")["verdict"].to_list() == ["worse", NO_CLEAR, "better", NO_CLEAR]


def test_an_effect_that_passes_uncorrected_but_not_after_holm_gets_no_verdict():
    # p = 0.02 and an interval excluding 0: a verdict alone, but 10 comparisons make Holm's p 0.2
    rows = [("full", "influence", 3, -0.5, -0.01, 0.02)] + [("full", f"s{i}", 3, -0.3, 0.3, 0.6) for i in range(9)]
    judged = verdicts(_table(rows), "mse")
    assert judged["p_holm"][0] == pytest.approx(0.2) and judged["verdict"][0] == NO_CLEAR
    assert verdicts(_table(rows[:1]), "mse")["verdict"][0] == "better"  # the same comparison alone holds


def test_the_three_seed_report_writes_corrected_verdicts(three_seed_report):
    differences = pl.read_parquet(three_seed_report / "differences.parquet")
    assert {"p_value", "p_holm", "verdict"} <= set(differences.columns)
    assert differences["p_holm"].to_list() == pytest.approx(holm(differences["p_value"].to_list()))
    rows = {(r["adapter"], r["selection"]): r for r in differences.iter_rows(named=True)}
    assert rows[("full", "influence")]["verdict"] == "better" and rows[("full", "random")]["verdict"] == NO_CLEAR
    known = differences.filter(pl.col("p_value").is_not_null())
    assert set(known["verdict"]) <= {"better", "worse", NO_CLEAR}  # every compared cell has 2 or 3 seeds
    headline = section_text((three_seed_report / "report.md").read_text(), "Headline")
    assert f"of {known.height} compared: full/influence" in headline and "Holm-adjusted p < 0.05" in headline


def test_the_one_seed_headline_says_one_seed_cannot_separate_the_strategies(one_seed_report):
    markdown = (one_seed_report / "report.md").read_text()
    headline = section_text(markdown, "Headline")
    line = next(x for x in headline.splitlines() if "One seed cannot separate the strategies" in x)
    assert "beat" not in line and "**" not in line and "full/influence -0.850 [" in line  # seed 1: 0.25 - 1.1
    differences = pl.read_parquet(one_seed_report / "differences.parquet")
    assert set(differences.filter(pl.col("p_value").is_not_null())["verdict"]) == {ONE_SEED}
    statistics = section_text(markdown, "Statistics: differences to no added data")
    assert "better (lower MSE)" not in statistics and "*" not in statistics.split("| verdict |", 1)[1]
    assert "one seed: no verdict" in statistics
