"""`molpeft run --budgets`: every selection cell at each budget, nested picks, the profile's own budget keeps its
names (so an existing run is extended, not redone)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from molpeft_cli.errors import SettingError
from molpeft_cli.pipeline.study import StudyConfig, plan_study
from tests.conftest import invoke


def test_the_plan_has_a_cell_per_budget_and_keeps_the_profiles_names(tmp_path):
    plan = plan_study(StudyConfig(output=str(tmp_path), profile="tiny", budgets=[5, 12], adapters=["lora"],
                                  selections=["none", "all", "random", "mcdropout"]))
    names = {s.name for s in plan.steps}
    assert {"finetune:two-stage-lora-random-k5-s0", "finetune:two-stage-lora-random-s0",  # 12 is tiny's own k
            "finetune:two-stage-lora-mcdropout-k5-s0", "finetune:two-stage-lora-all-s0",
            "finetune:two-stage-lora-none-s0"} <= names
    assert not any("all-k" in n or "none-k" in n for n in names)  # all and none have no budget
    steps = {s.name: s for s in plan.steps}
    assert steps["select:random-k5-s0"].config.k == 5 and steps["select:random-s0"].config.k == 12
    assert steps["finetune:two-stage-lora-random-k5-s0"].config.extra == [
        str(tmp_path / "selections" / "random-k5-s0.parquet")]
    assert plan.describe()["budgets"] == [5, 12]
    plain = plan_study(StudyConfig(output=str(tmp_path), profile="tiny", budgets=[12]))
    assert "budgets" not in plain.describe()  # the profile's own budget alone: the plan (and run.json) as without


@pytest.mark.parametrize("budgets", [[0, 5], [5, 5], [], [41]])
def test_bad_budgets_are_one_clear_error(tmp_path, budgets):
    with pytest.raises(SettingError, match="budgets"):
        StudyConfig(output=str(tmp_path), profile="tiny", budgets=budgets)


def test_a_tiny_budget_run_adds_nested_selections(tmp_path, runner):
    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "-q", "run", "--profile", "tiny", "-o", str(run_dir), "--budgets",
                             "5,10", "--adapters", "full", "--selections", "none,random,maxmin,mcdropout"])
    assert result.exit_code == 0, result.output
    for strategy in ("random", "maxmin", "mcdropout"):
        small, large = (pl.read_parquet(run_dir / "selections" / f"{strategy}-k{k}-s0.parquet") for k in (5, 10))
        assert small.height == 5 and large.height == 10
        assert small["mol_id"].to_list() == large["mol_id"].to_list()[:5], strategy  # common random numbers
        for k in (5, 10):
            meta = json.loads((run_dir / "cells" / f"two-stage-full-{strategy}-k{k}-s0" / "finetune.json").read_text())
            assert meta["n_extra"] == k
    assert (run_dir / "report" / "figures" / "budget_curves.png").is_file()  # the curve figure
    budgets = pl.read_parquet(run_dir / "report" / "budgets.parquet")
    assert {5, 10} <= set(budgets["budget"].to_list())
