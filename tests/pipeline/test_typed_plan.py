"""The plan is typed from the profile to the step: steps carry their configs, the executor calls the step functions
with them (no command line is parsed on the way), manifests record the config, and a run directory written before
configs were recorded (argv only) is still up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from molpeft_cli.pipeline.execute import is_current, recorded_config, written_for
from molpeft_cli.pipeline.plan import StudyPlan, build_plan, planned
from molpeft_cli.pipeline.profiles import ADAPTERS, PROFILES, SELECTIONS
from molpeft_cli.schema import config_record, parse_args, settings_for, to_args
from molpeft_cli.steps.finetune import FinetuneConfig


def _quick_plan(run_dir: Path) -> StudyPlan:
    profile = PROFILES["quick"]
    return build_plan(run_dir, profile, [0], list(ADAPTERS), list(SELECTIONS), None, None)


def test_steps_carry_configs_built_from_the_profiles_typed_settings(tmp_path):
    plan = _quick_plan(tmp_path)
    cell = next(s for s in plan.steps if s.name == "finetune:two-stage-lora-none-s0")
    assert isinstance(cell.config, FinetuneConfig)
    assert (cell.config.recipe.peft, cell.config.recipe.max_epochs, cell.config.recipe.patience) == ("lora", 40, 3)
    assert cell.config.seed == 0 and cell.config.model == str(tmp_path / "models" / "mlm")
    # the command line shows what the plan set, defaults included, and reads back to the same config
    assert cell.argv[:2] == ["finetune", str(tmp_path / "data" / "split.parquet")]
    assert "--truncate" in cell.argv and cell.argv[cell.argv.index("--peft") + 1] == "lora"
    assert parse_args(FinetuneConfig, cell.argv[1:]) == cell.config


def test_profile_settings_are_checked_when_declared():
    with pytest.raises(TypeError, match="no setting max_epoch"):
        settings_for(FinetuneConfig, max_epoch=3)
    with pytest.raises(TypeError, match="must be a whole number"):
        settings_for(FinetuneConfig, max_epochs="40")
    with pytest.raises(TypeError):  # read-only once declared
        PROFILES["quick"].finetune["max_epochs"] = 1


def test_selections_depend_on_what_each_strategy_declares(tmp_path):
    plan = _quick_plan(tmp_path)
    steps = {s.name: s for s in plan.steps}
    assert steps["select:mcdropout-s0"].config.model == str(tmp_path / "cells" / "two-stage-full-none-s0")
    assert "finetune:two-stage-full-none-s0" in steps["select:mcdropout-s0"].deps
    assert steps["select:influence-s0"].config.scores == str(tmp_path / "scores" / "influence-s0.parquet")
    assert "influence:s0" in steps["select:influence-s0"].deps
    assert steps["select:maxmin-s0"].config.train == str(tmp_path / "data" / "split.parquet")
    assert steps["select:all-s0"].config.k == 185 and "-k" not in steps["select:all-s0"].argv  # all takes no k
    assert steps["select:random-s0"].config.model is None and steps["select:random-s0"].deps == ["pool", "split"]


def _write(step, manifest: dict) -> None:
    step.output.parent.mkdir(parents=True, exist_ok=True)
    step.output.write_text("x") if not step.directory else step.output.mkdir(parents=True, exist_ok=True)
    step.manifest.write_text(json.dumps(manifest))


def test_a_manifest_records_the_config_and_a_changed_config_reruns(tmp_path):
    plan = _quick_plan(tmp_path)
    step = next(s for s in plan.steps if s.name == "split")
    _write(step, {"config": config_record(step.config), "argv": ["molpeft", *step.argv], "inputs": {}})
    assert is_current(step)
    changed = planned("split", "split", step.output, input=step.config.input, output=step.config.output,
                      strategy="random", seed=0, summary=step.config.summary)
    assert not is_current(changed) and written_for(changed) is None


def test_a_setting_added_since_reads_as_its_default(tmp_path):
    plan = _quick_plan(tmp_path)
    step = next(s for s in plan.steps if s.name == "finetune:two-stage-lora-none-s0")
    record = config_record(step.config)
    del record["drop_leaking"], record["recipe"]["grad_clip"]  # as if written before these settings existed
    _write(step, {"config": record, "inputs": {}})
    assert is_current(step)
    record["recipe"]["patience"] = 2  # a recorded setting that differs still counts
    _write(step, {"config": record, "inputs": {}})
    assert not is_current(step)


def test_manifests_written_before_configs_were_recorded_are_read_from_their_command_line(tmp_path):
    """The argv the plan used to write by hand (another order, defaults spelled out, global options first)."""
    plan = _quick_plan(tmp_path)
    d = tmp_path
    steps = {s.name: s for s in plan.steps}
    legacy = {
        "finetune:two-stage-lora-none-s0": ["finetune", str(d / "data/split.parquet"), "-o",
                                            str(d / "cells/two-stage-lora-none-s0"), "--model", str(d / "models/mlm"),
                                            "--peft", "lora", "--seed", "0", "--truncate", "--max-epochs", "40",
                                            "--patience", "3"],
        "select:mcdropout-s0": ["select", str(d / "data/pool.parquet"), "--strategy", "mcdropout", "-o",
                                str(d / "selections/mcdropout-s0.parquet"), "--exclude", str(d / "data/split.parquet"),
                                "--seed", "0", "-k", "185", "--model", str(d / "cells/two-stage-full-none-s0"),
                                "--passes", "20"],
    }
    for name, argv in legacy.items():
        step = steps[name]
        _write(step, {"argv": ["molpeft", "--threads", "1", "-q", *argv], "inputs": {}})
        assert recorded_config(json.loads(step.manifest.read_text()), type(step.config)) == config_record(step.config)
        assert is_current(step), name
    # another recipe in an old manifest is not current
    old = steps["finetune:two-stage-lora-none-s0"]
    _write(old, {"argv": ["molpeft", *legacy[old.name][:-1], "2"], "inputs": {}})
    assert not is_current(old)


def test_the_executor_calls_steps_with_configs_without_parsing_a_command_line(tmp_path, small_csv, monkeypatch):
    from molpeft_cli import schema
    from molpeft_cli.pipeline.execute import execute

    def refuse(*args, **kwargs):
        raise AssertionError("parse_args on the run path")

    monkeypatch.setattr(schema, "parse_args", refuse)
    out = tmp_path / "run"
    steps = [planned("data", "data", out / "m.parquet", source=str(small_csv), output=str(out / "m.parquet")),
             planned("split", "split", out / "s.parquet", deps=["data"], input=str(out / "m.parquet"),
                     output=str(out / "s.parquet"), strategy="random", seed=0)]
    plan = StudyPlan(out, PROFILES["tiny"], [0], ["full"], ["none"], None, "", steps=steps)
    assert execute(plan, ["--threads", "1"])["run"] == 2
    manifest = json.loads(steps[1].manifest.read_text())
    assert manifest["config"] == config_record(steps[1].config)
    assert manifest["argv"] == ["molpeft", "--threads", "1", *steps[1].argv]
    assert execute(plan, ["--threads", "1"])["skipped"] == 2  # up to date by the recorded config
    assert to_args(steps[1].config, steps[1].given)[-2:] == ["--seed", "0"]
