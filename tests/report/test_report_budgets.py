"""Budget curves: fabricated cells at budgets 5 and 10 (with `none` at 0 and `all` at the pool size), read from
finetune.json's n_extra and the selection manifests' k, drawn per adapter with bootstrap bands and the difference to
random at each budget."""

import numpy as np
import polars as pl
import pytest

from molpeft_cli.report import ReportOptions, build_report
from molpeft_cli.report.collect import collect_run
from molpeft_cli.report.stats import NO_CLEAR, cell_interval, holm
from tests.report.budget_factory import BUDGET_MSE, POOL, budget_folder
from tests.report.test_report_build import md_row, section_text


@pytest.fixture(scope="module")
def budget_report(tmp_path_factory):
    folder = budget_folder(tmp_path_factory.mktemp("budgets") / "evals")
    return folder, build_report(folder, tmp_path_factory.mktemp("budget-report") / "report",
                                ReportOptions(baseline=False, chemprop=False))


def mean_mse(adapter, selection, budget):
    return float(np.mean(BUDGET_MSE[(adapter, selection, budget)]))


def test_cells_carry_their_budget_and_the_matrix_keeps_the_largest(budget_report):
    folder, report = budget_report
    data = collect_run(folder)
    budgets = data.budgets.filter(pl.col("adapter") == "full")
    influence = budgets.filter((pl.col("selection") == "influence") & (pl.col("budget") == 5))
    assert influence["n_added"].to_list() == [5, 4, 5]  # seed 1 added fewer than asked, still budget 5
    assert sorted(set(budgets.filter(pl.col("selection") == "all")["budget"])) == [POOL]
    assert data.metrics.height == 8 * 3  # 8 (adapter, selection) pairs x 3 seeds, each at its largest budget
    markdown = (report / "report.md").read_text()
    best = f"**{mean_mse('full', 'maxmin', 10):.3f} ± 0.029**"
    assert md_row(markdown, "full", "Test MSE: adapter × selection")[4] == best


def test_the_budget_table_has_every_point_with_its_band(budget_report):
    _, report = budget_report
    table = pl.read_parquet(report / "budgets.parquet")
    points = {(r["adapter"], r["selection"], r["budget"]): r for r in table.iter_rows(named=True)}
    assert set(points) == set(BUDGET_MSE)
    for key, row in points.items():
        assert row["mse"] == pytest.approx(mean_mse(*key))  # the exact test MSE of the fabricated cells
        assert row["mse_low"] < row["mse"] < row["mse_high"] and row["n_seeds"] == 3
    assert points[("full", "none", 0)]["n_added"] == 0 and points[("full", "all", POOL)]["n_added"] == POOL
    assert points[("full", "influence", 5)]["n_added"] == pytest.approx(14 / 3)


def test_the_difference_to_random_at_each_budget_is_paired_and_corrected(budget_report):
    _, report = budget_report
    table = pl.read_parquet(report / "budgets.parquet")
    compared = table.filter(pl.col("p_value").is_not_null())
    assert set(compared["selection"]) == {"maxmin", "influence"} and compared.height == 6
    assert compared["p_holm"].to_list() == pytest.approx(holm(compared["p_value"].to_list()))
    row = compared.filter((pl.col("adapter") == "full") & (pl.col("selection") == "maxmin")
                          & (pl.col("budget") == 10)).row(0, named=True)
    assert row["delta_mse"] == pytest.approx(mean_mse("full", "maxmin", 10) - mean_mse("full", "random", 10))
    assert row["ci_high"] < 0 and row["verdict"] == "better" and row["paired_seeds"] == 3
    others = compared.filter(~((pl.col("adapter") == "full") & (pl.col("selection") == "maxmin")
                               & (pl.col("budget") == 10)))
    assert set(others["verdict"]) == {NO_CLEAR}
    reference = table.filter(pl.col("selection").is_in(["random", "none", "all"]))  # not compared with random
    assert reference.height == 7 and reference["delta_mse"].null_count() == 7


def test_the_report_draws_the_curves(budget_report):
    _, report = budget_report
    assert (report / "figures" / "budget_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    title = "Budget curves: test score against molecules added"
    markdown = (report / "report.md").read_text()
    section = section_text(markdown, title)
    assert "figures/budget_curves.png" in section and "Holm adjusts it over all 6 comparisons to random" in section
    assert md_row(markdown, "full", title)[:3] == ["full", "none", "0"]
    assert "budget_curves.png" not in (report / "report.html").read_text()  # embedded, not linked


def test_one_budget_leaves_the_report_as_it_was(three_seed_report):
    assert not (three_seed_report / "budgets.parquet").exists()
    assert not (three_seed_report / "figures" / "budget_curves.png").exists()
    assert "## Budget curves" not in (three_seed_report / "report.md").read_text()


def test_a_cells_roc_auc_band_is_centred_on_the_mean_of_sklearns_roc_auc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    cell = {}
    for seed in range(3):
        labels = rng.integers(0, 2, 80).astype(float)
        cell[seed] = pl.DataFrame({"mol_id": [f"m{i}" for i in range(80)], "label": labels,
                                   "prediction": 1 / (1 + np.exp(-(2 * labels - 1 + rng.normal(size=80))))})
    interval = cell_interval(cell, "x", 500, 0, "classification")
    reference = np.mean([roc_auc_score(t["label"], t["prediction"]) for t in cell.values()])
    assert interval.estimate == pytest.approx(reference) and interval.low < reference < interval.high
    regression = cell_interval({0: cell[0]}, "x", 500, 0, "regression")
    assert regression.estimate == pytest.approx(np.mean((cell[0]["prediction"] - cell[0]["label"]).to_numpy() ** 2))
    assert regression.p_value is None


def test_budgets_that_differ_only_between_seeds_are_one_budget():
    """A threshold's selections add a different number of molecules per seed: every seed stays in the matrix."""
    from molpeft_cli.cells import CellKey
    from molpeft_cli.report.collect import matrix_cells
    from molpeft_cli.report.sources import Cell

    def cell(selection, seed, budget):
        return Cell(CellKey("two-stage", "full", selection, seed), "regression", None, None, None, None,
                    budget=budget, n_added=budget)

    threshold = [cell("mcdropout", 0, 7), cell("mcdropout", 1, 9), cell("none", 0, 0), cell("none", 1, 0)]
    assert matrix_cells(threshold) == {id(c) for c in threshold}
    studied = [*threshold, cell("random", 0, 5), cell("random", 0, 10), cell("random", 1, 10)]
    assert matrix_cells(studied) == {id(c) for c in studied} - {id(studied[4])}
