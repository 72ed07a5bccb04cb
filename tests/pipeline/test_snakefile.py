"""`molpeft run --snakefile`: one rule per step with the Makefile's commands, and `snakemake -j 2` running the tiny
study to the same report tables as `molpeft run` in one process."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO, invoke

GRID = ["--profile", "tiny", "--adapters", "full", "--selections", "none,random"]
TIMING_COLUMNS = ("train_seconds", "train_seconds_mean", "train_seconds_sd")


def _need_snakemake() -> None:
    if importlib.util.find_spec("snakemake") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("snakemake is not installed; CI installs the `cluster` extra (make test does)")
    pytest.skip("snakemake is not installed (pip install 'molpeft[cluster]'); the Snakefile is not run")


def test_snakefile_has_one_rule_per_step_with_the_makefile_commands(runner, tmp_path):
    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "run", *GRID, "-o", str(run_dir), "--makefile",
                             str(tmp_path / "study.mk"), "--dry-run"])
    assert result.exit_code == 0, result.output
    result = invoke(runner, ["--threads", "1", "run", *GRID, "-o", str(run_dir), "--snakefile",
                             str(tmp_path / "study.smk")])
    assert result.exit_code == 0, result.output
    assert not (run_dir / "data").exists()  # --snakefile writes the plan and stops
    text = (tmp_path / "study.smk").read_text()
    steps = json.loads((run_dir / "run.json").read_text())["steps"]
    rules = [line.split()[1].rstrip(":") for line in text.splitlines() if line.startswith("rule ")]
    assert rules[0] == "all" and len(rules) == steps + 1 and len(set(rules)) == len(rules)
    make_commands = [line.removeprefix("\t$(MOLPEFT) ") for line in (tmp_path / "study.mk").read_text()
                     .splitlines() if line.startswith("\t$(MOLPEFT) ")]
    shells = [line.split('"{MOLPEFT} ', 1)[1].removesuffix('"') for line in text.splitlines()
              if line.startswith("    shell: ")]
    assert shells == make_commands
    blocks = text.split("\nrule ")[2:]
    finetune = next(b for b in blocks if b.startswith("finetune_"))
    data = next(b for b in blocks if b.startswith("data:"))
    assert "threads: 1" in finetune and "gpu=GPUS" in finetune and "mem_mb=4000" in finetune
    assert "gpu=0" in data and "directory(" in finetune and f'"{run_dir}/cells/' in finetune


@pytest.mark.slow
def test_snakemake_runs_the_tiny_study_to_the_same_report(runner, tmp_path):
    _need_snakemake()
    reference, clustered = tmp_path / "in-process", tmp_path / "snakemake"
    result = invoke(runner, ["-q", "--threads", "1", "run", *GRID, "-o", str(reference)])
    assert result.exit_code == 0, result.output
    snakefile = tmp_path / "study.smk"
    result = invoke(runner, ["-q", "--threads", "1", "run", *GRID, "-o", str(clustered), "--snakefile",
                             str(snakefile)])
    assert result.exit_code == 0, result.output

    program = f"{shlex.quote(sys.executable)} -m molpeft_cli"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(snakefile), "-j", "2", "--config",
                           f"molpeft={program}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]

    for table in ("cells", "differences"):
        got = pl.read_parquet(clustered / "report" / f"{table}.parquet")
        want = pl.read_parquet(reference / "report" / f"{table}.parquet")
        keep = [c for c in want.columns if c not in TIMING_COLUMNS]
        assert got.height == want.height > 0
        assert got.select(keep).equals(want.select(keep)), table
    # every step wrote its manifest, so `molpeft run` finds the snakemake-made study up to date
    result = invoke(runner, ["--threads", "1", "run", *GRID, "-o", str(clustered), "--dry-run"])
    planned = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert planned and all("] skip " in line for line in planned), result.stderr


def test_snakefile_paths_are_anchored_when_the_run_directory_is_relative(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, ["run", *GRID, "-o", "rel", "--snakefile", "s.smk"])
    assert result.exit_code == 0, result.output
    assert f'workdir: "{Path(tmp_path)}"' in (tmp_path / "s.smk").read_text()
