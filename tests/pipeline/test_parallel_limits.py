"""`execute_parallel`'s time limit and keep-going mode (used by tools/device/study_device.py on GPU leases)."""

from __future__ import annotations

import time

import pytest

from molpeft_cli.errors import MolpeftError
from molpeft_cli.pipeline.parallel import execute_parallel
from molpeft_cli.pipeline.plan import Step, StudyPlan, config_for
from molpeft_cli.pipeline.profiles import PROFILES
from molpeft_cli.settings import Runtime


def _plan(tmp_path, small_csv) -> StudyPlan:
    """Two independent steps, one of which fails (its input is missing), and a step that needs the failing one."""
    out = tmp_path / "run"
    steps = [
        Step("missing", config_for("data", source=str(tmp_path / "absent.csv"), output=str(out / "missing.parquet")),
             out / "missing.parquet"),
        Step("after", config_for("data", source=str(small_csv), output=str(out / "after.parquet")),
             out / "after.parquet", deps=["missing"]),
        Step("fine", config_for("data", source=str(small_csv), output=str(out / "fine.parquet")),
             out / "fine.parquet"),
    ]
    return StudyPlan(out, PROFILES["tiny"], [0], ["full"], ["none"], None, "", steps=steps)


def test_keep_going_runs_what_does_not_depend_on_a_failure(tmp_path, small_csv):
    plan = _plan(tmp_path, small_csv)
    counts: dict[str, int] = {}
    with pytest.raises(MolpeftError, match="absent.csv"):
        execute_parallel(plan, ["--threads", "1"], 2, Runtime(threads=1), counts=counts, keep_going=True)
    assert (plan.run_dir / "fine.parquet").is_file()  # started although "missing" had failed (or was failing)
    assert not (plan.run_dir / "after.parquet").exists()
    assert counts["run"] == 1 and counts["not_started"] == 1


def test_without_keep_going_a_failure_stops_new_steps(tmp_path, small_csv):
    plan = _plan(tmp_path, small_csv)
    counts: dict[str, int] = {}
    with pytest.raises(MolpeftError, match="absent.csv"):  # one worker: "missing" runs first and fails
        execute_parallel(plan, ["--threads", "1"], 1, Runtime(threads=1), counts=counts)
    assert not (plan.run_dir / "fine.parquet").exists() and counts["run"] == 0 and counts["not_started"] == 2


def test_a_passed_deadline_starts_nothing_and_does_not_raise(tmp_path, small_csv):
    plan = _plan(tmp_path, small_csv)
    counts: dict[str, int] = {}
    result = execute_parallel(plan, ["--threads", "1"], 2, Runtime(threads=1), counts=counts,
                              deadline=time.monotonic() - 1)
    assert result["run"] == 0 and result["not_started"] == 3
    assert not plan.run_dir.exists() or not any(plan.run_dir.rglob("*.parquet"))


def test_one_process_keeps_going_and_stops_at_the_deadline_too(tmp_path, small_csv):
    from molpeft_cli.pipeline.execute import execute

    plan = _plan(tmp_path, small_csv)
    counts: dict[str, int] = {}
    with pytest.raises(MolpeftError, match="absent.csv"):
        execute(plan, ["--threads", "1"], runtime=Runtime(threads=1), counts=counts, keep_going=True)
    assert (plan.run_dir / "fine.parquet").is_file() and not (plan.run_dir / "after.parquet").exists()
    assert counts == {"run": 1, "skipped": 0, "not_started": 1}
    counts = execute(_plan(tmp_path / "again", small_csv), ["--threads", "1"], runtime=Runtime(threads=1),
                     deadline=time.monotonic() - 1)
    assert counts == {"run": 0, "skipped": 0, "not_started": 3}


def test_run_time_limit_ends_with_status_75_and_is_recorded(runner, tmp_path):
    import json

    from tests.conftest import assert_one_line_error, invoke

    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "run", "--profile", "tiny", "-o", str(run_dir), "--adapters", "full",
                             "--time-limit", "0.000001"])
    assert result.exit_code == 75
    assert_one_line_error(result, "time limit reached")
    assert "rerun the same command to resume" in result.stderr
    history = json.loads((run_dir / "run_history.jsonl").read_text().splitlines()[-1])
    assert history["status"] == "time limit" and history["steps_run"] == 0
    assert history["steps_not_started"] == history["steps"]
    assert_one_line_error(invoke(runner, ["run", "--profile", "tiny", "-o", str(tmp_path / "other"),
                                          "--time-limit", "0"]), "--time-limit must be more than 0")
