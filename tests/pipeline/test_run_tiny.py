"""The whole study on the tiny profile: every step runs once, a rerun skips everything, the Makefile matches."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from typer.testing import CliRunner

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    # --threads 1: the --jobs test below compares with this run, and sums depend on the thread count
    result = invoke(CliRunner(), ["--threads", "1", "run", "--profile", "tiny", "-o", str(run_dir), "--adapters",
                                  "full", "--makefile", str(run_dir.parent / "study.mk")])
    assert result.exit_code == 0, result.output
    return run_dir, result


def test_tiny_run_produces_every_cell_and_the_report(tiny_run):
    run_dir, _ = tiny_run
    metrics = pl.concat([pl.read_parquet(p) for p in sorted((run_dir / "eval").glob("*.metrics.parquet"))],
                        how="diagonal_relaxed")
    cells = set(zip(metrics["variant"], metrics["peft"], metrics["selection"], strict=True))
    expected = {("two-stage", a, s) for a in ("full",)
                for s in ("none", "all", "random", "mcdropout", "maxmin", "influence")}
    assert cells == expected  # tiny trains from scratch: no pretrained model, so no direct variant
    for strategy in ("random", "mcdropout", "maxmin", "influence"):
        sel = pl.read_parquet(run_dir / "selections" / f"{strategy}-s0.parquet")
        assert 0 < sel.height <= 12 and sel["rank"].to_list() == list(range(1, sel.height + 1))
    scores = pl.read_parquet(run_dir / "scores" / "influence-s0.parquet")
    assert scores.columns[:3] == ["mol_id", "score", "grad_norm"] and scores["score"].is_finite().all()
    run_json = json.loads((run_dir / "run.json").read_text())
    history = [json.loads(line) for line in (run_dir / "run_history.jsonl").read_text().splitlines()]
    assert run_json["pool"]["kind"] == "carved" and history[0]["steps_run"] == run_json["steps"]
    assert history[0]["status"] == "completed"
    assert (run_dir / "report" / "report.html").exists() and (run_dir / "report" / "report.md").exists()


def test_rerun_skips_every_step_and_dry_run_says_so(tiny_run, runner):
    run_dir, _ = tiny_run
    result = invoke(runner, ["run", "--profile", "tiny", "-o", str(run_dir), "--adapters", "full"])
    assert result.exit_code == 0, result.output
    last = json.loads((run_dir / "run_history.jsonl").read_text().splitlines()[-1])
    assert last["steps_run"] == 0 and last["steps_skipped"] == last["steps"]
    result = invoke(runner, ["run", "--profile", "tiny", "-o", str(run_dir), "--adapters", "full,bitfit",
                             "--dry-run"])
    assert result.exit_code == 0
    planned = [line for line in result.stderr.splitlines() if "] run " in line]
    assert planned and all("bitfit" in line or "report" in line for line in planned)


def test_makefile_has_one_target_per_step(tiny_run):
    run_dir, _ = tiny_run
    lines = (run_dir.parent / "study.mk").read_text().splitlines()
    recipes = [line for line in lines if line.startswith("\t$(MOLPEFT) ")]
    steps = json.loads((run_dir / "run.json").read_text())["steps"]
    assert len(recipes) == steps
    assert sum(1 for line in lines if line.endswith("manifest.json:") or "manifest.json: " in line) == steps
    assert any(" finetune " in r and "--peft full" in r for r in recipes)


def test_run_bad_options(runner, tmp_path):
    assert_one_line_error(invoke(runner, ["run", "--profile", "huge", "-o", str(tmp_path)]), "unknown --profile")
    assert_one_line_error(invoke(runner, ["run", "--adapters", "full,prefix", "-o", str(tmp_path)]), "prefix")
    assert_one_line_error(invoke(runner, ["run", "--pool", str(tmp_path / "none.csv"), "-o", str(tmp_path)]),
                          "pool file not found")


def _manifest_view(path, run_dir):
    """A manifest without its times and versions (and recorded durations), the run directory's path made relative."""

    def untimed(value):
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in ("train_seconds", "seconds")}
        return [untimed(v) for v in value] if isinstance(value, list) else value

    manifest = json.loads(path.read_text().replace(str(run_dir), "RUN"))
    for key in ("started", "ended", "versions"):
        manifest.pop(key, None)
    # a checkpoint directory's hash covers its training_log.parquet, whose wall-clock columns differ between any two
    # runs; the inputs are compared by path here, and the weights themselves byte for byte in the test
    for entry in manifest.get("inputs", {}).values():
        if isinstance(entry, dict) and Path(entry.get("path", "").replace("RUN", str(run_dir))).is_dir():
            entry.pop("sha256", None)
    return untimed(manifest)


def test_two_jobs_give_the_same_outputs_as_one(tiny_run, tmp_path):
    from typer.testing import CliRunner

    run_dir, _ = tiny_run  # one job, --threads 1 (the tests' shared fixture)
    other = tmp_path / "tiny"
    result = invoke(CliRunner(), ["--threads", "1", "run", "--profile", "tiny", "-o", str(other), "--adapters",
                                  "full", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    history = json.loads((other / "run_history.jsonl").read_text().splitlines()[-1])
    assert history["jobs"] == 2 and history["steps_run"] == history["steps"]
    # the steps' manifests and the report's baseline cache (the random forest predicts in one thread, so its metrics
    # are bitwise the same); the report's own folder holds the rendered report, compared elsewhere
    def step_manifests(root):
        return sorted(p.relative_to(root) for p in root.rglob("*manifest.json")
                      if "report" not in p.relative_to(root).parts)

    manifests = step_manifests(other)
    assert manifests == step_manifests(run_dir) and len(manifests) >= history["steps"] - 1
    for relative in manifests:
        assert _manifest_view(other / relative, other) == _manifest_view(run_dir / relative, run_dir), relative
    weights = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*.safetensors")
                     if not {"report", "baseline"} & set(p.relative_to(run_dir).parts))
    assert weights and weights == sorted(p.relative_to(other) for p in other.rglob("*.safetensors")
                                         if not {"report", "baseline"} & set(p.relative_to(other).parts))
    from safetensors import safe_open
    from safetensors.torch import load_file

    for relative in weights:  # the same tensors and metadata (the header's key order may differ)
        one, two = load_file(run_dir / relative), load_file(other / relative)
        assert one.keys() == two.keys() and all(one[k].equal(two[k]) for k in one), relative
        with safe_open(run_dir / relative, "pt") as a, safe_open(other / relative, "pt") as b:
            assert a.metadata() == b.metadata(), relative
    for metrics in sorted((run_dir / "eval").glob("*.metrics.parquet")):
        one, two = pl.read_parquet(metrics), pl.read_parquet(other / "eval" / metrics.name)
        assert one.drop("train_seconds", "model").equals(two.drop("train_seconds", "model")), metrics.name
        assert one["model"][0].replace(str(run_dir), "RUN") == two["model"][0].replace(str(other), "RUN")
    assert (other / "logs").is_dir() and any((other / "logs").iterdir())  # each worker step's messages


def test_a_failed_run_is_recorded_in_the_history(runner, tmp_path):
    pool = tmp_path / "pool.csv"
    pool.write_text("name,value\na,1\n")  # no SMILES column: the pool step fails after the data step
    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "run", "--profile", "tiny", "-o", str(run_dir), "--adapters", "full",
                             "--pool", str(pool)])
    assert result.exit_code != 0
    history = [json.loads(line) for line in (run_dir / "run_history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and history[0]["status"] == "failed"
    assert history[0]["steps_run"] >= 1 and history[0]["steps_run"] < history[0]["steps"]


def test_an_interrupted_run_is_recorded_in_the_history(tmp_path, monkeypatch):
    from molpeft_cli.pipeline import execute as execute_module
    from molpeft_cli.pipeline.study import StudyConfig, run_study

    ran = []

    def interrupt_second(step, *args, **kwargs):
        if ran:
            raise KeyboardInterrupt
        ran.append(step.name)
        real_run_step(step, *args, **kwargs)

    real_run_step = execute_module.run_step
    monkeypatch.setattr(execute_module, "run_step", interrupt_second)
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_study(StudyConfig(profile="tiny", output=str(run_dir), adapters=["full"]))
    record = json.loads((run_dir / "run_history.jsonl").read_text())
    assert record["status"] == "interrupted" and record["steps_run"] == 1 and ran == ["data"]
