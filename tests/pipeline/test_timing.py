"""Study timing: step times from manifests and the wall time of a plan replayed on N workers."""

import json
from pathlib import Path

import pytest

from molpeft_cli.pipeline.plan import Step, StudyPlan, config_for
from molpeft_cli.pipeline.profiles import PROFILES
from molpeft_cli.pipeline.timing import simulate_wall, step_seconds
from molpeft_cli.schema import config_record


def _plan(tmp_path: Path, deps: dict[str, list[str]]) -> StudyPlan:
    steps = [Step(name, config_for("data", source=name, output=str(tmp_path / f"{name}.parquet")),
                  tmp_path / f"{name}.parquet", deps=after) for name, after in deps.items()]
    return StudyPlan(tmp_path, PROFILES["tiny"], [0], ["full"], ["none"], None, "molformer-mini", steps)


def test_wall_time_follows_dependencies_and_workers(tmp_path):
    # a -> (b, c, d) -> e; b is long
    plan = _plan(tmp_path, {"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "e": ["b", "c", "d"]})
    seconds = {"a": 1.0, "b": 10.0, "c": 2.0, "d": 3.0, "e": 1.0}
    assert simulate_wall(plan, seconds, 1) == pytest.approx(17.0)  # everything in turn
    assert simulate_wall(plan, seconds, 2) == pytest.approx(1 + 10 + 1)  # c then d beside b
    assert simulate_wall(plan, seconds, 8) == pytest.approx(1 + 10 + 1)  # the critical path
    # plan order decides among ready steps: with 2 workers b and c start first, d waits for c
    short = {"a": 1.0, "b": 4.0, "c": 1.0, "d": 4.0, "e": 1.0}
    assert simulate_wall(plan, short, 2) == pytest.approx(1 + 1 + 4 + 1)
    with pytest.raises(ValueError, match="no duration"):
        simulate_wall(plan, {"a": 1.0}, 2)


def test_step_seconds_reads_the_manifest_span(tmp_path):
    plan = _plan(tmp_path, {"a": []})
    step = plan.steps[0]
    assert step_seconds(step) is None
    step.manifest.write_text(json.dumps({"started": "2026-11-27T01:00:00+00:00",
                                         "ended": "2026-11-27T01:02:03.5+00:00"}))
    assert step_seconds(step) == pytest.approx(123.5)
    step.manifest.write_text("{not json")
    assert step_seconds(step) is None


def test_measured_seconds_without_checking_inputs_counts_a_run_brought_back_without_weights(tmp_path):
    from molpeft_cli.pipeline.timing import measured_seconds

    plan = _plan(tmp_path, {"a": [], "b": ["a"]})
    for step in plan.steps:
        step.output.write_text("x")
    span = {"started": "2026-11-27T01:00:00+00:00", "ended": "2026-11-27T01:00:30+00:00"}
    # a: written for its config, but its input (a checkpoint left behind on the GPU machine) is not here
    plan.steps[0].manifest.write_text(json.dumps({**span, "config": config_record(plan.steps[0].config),
                                                  "inputs": {"model": {"path": str(tmp_path / "gone"),
                                                                       "sha256": "0" * 64}}}))
    # b: written by another config (an older recipe)
    plan.steps[1].manifest.write_text(json.dumps({**span, "argv": ["molpeft", "data", "old", "-o", "b.parquet"]}))
    assert measured_seconds(plan) == {}
    assert measured_seconds(plan, check_inputs=False) == {"a": pytest.approx(30.0)}
