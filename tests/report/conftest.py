"""Synthetic run directories and their reports, built once per test session (the report takes a few seconds)."""

from __future__ import annotations

import pytest

from molpeft_cli.report import ForestConfig, ReportOptions, build_report
from tests.report.run_factory import make_run_dir

# default 2000 resamples; a small forest for speed; the chemprop baseline has its own test
FAST = ReportOptions(forest=ForestConfig(n_trees=30), chemprop=False)


@pytest.fixture(scope="session")
def three_seed_run(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("run3") / "run")


@pytest.fixture(scope="session")
def three_seed_report(three_seed_run, tmp_path_factory):
    return build_report(three_seed_run, tmp_path_factory.mktemp("report3") / "report", FAST)


@pytest.fixture(scope="session")
def one_seed_report(tmp_path_factory):
    run = make_run_dir(tmp_path_factory.mktemp("run1") / "run", seeds=(1,))
    return build_report(run, tmp_path_factory.mktemp("report1") / "report", FAST)
