"""The report's influence section says how far to trust the scores: the LDS of the run's own setting from a
check table, else that they are unverified."""

from __future__ import annotations

import json
from types import SimpleNamespace

import polars as pl
import pytest

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.check import CHECK_COLUMNS
from molpeft_cli.report.data_sections import influence_trust
from molpeft_cli.report.document import Paragraph, Table


def fake_run(tmp_path, scope: str = "head", solver: str = "lissa"):
    scores = tmp_path / "run" / "scores"
    scores.mkdir(parents=True)
    manifest = {"command": "influence", "params": {"params": scope, "solver": solver}}
    (scores / "influence-s0.parquet.manifest.json").write_text(json.dumps(manifest))
    return scores.parent


def analysis(run_dir, check=None):
    return SimpleNamespace(data=SimpleNamespace(run_dir=run_dir), options=SimpleNamespace(influence_check=check))


def write_check(path, rows):
    full = [{"scores": "s.parquet", "damping": 0.1, "n_params": 385, "converged": True, "fraction": 0.5,
             "epochs": 1, "subsets": 10, **row} for row in rows]
    pl.DataFrame(full, schema={k: getattr(pl, v) for k, v in CHECK_COLUMNS.items()}).write_parquet(path)


def test_without_a_check_the_scores_are_unverified(tmp_path) -> None:
    blocks = influence_trust(analysis(fake_run(tmp_path)))
    assert len(blocks) == 1 and isinstance(blocks[0], Paragraph)
    assert "UNVERIFIED for this model" in blocks[0].text and "scope head, solver lissa" in blocks[0].text


def test_the_runs_own_setting_gets_its_lds(tmp_path) -> None:
    run = fake_run(tmp_path)
    write_check(run / "scores" / "influence-check.parquet", [
        {"scope": "trainable", "solver": "projected", "lds": 0.61, "ci_low": 0.3, "ci_high": 0.8},
        {"scope": "head", "solver": "lissa", "lds": 0.42, "ci_low": 0.1, "ci_high": 0.7},
    ])
    blocks = influence_trust(analysis(run))
    assert "LDS 0.42 (95% CI 0.10 to 0.70" in blocks[0].text
    assert isinstance(blocks[1], Table) and len(blocks[1].rows) == 2


def test_a_check_without_the_runs_setting_says_so(tmp_path) -> None:
    run = fake_run(tmp_path, scope="last-1")
    check = tmp_path / "elsewhere.parquet"
    write_check(check, [{"scope": "head", "solver": "lissa", "lds": 0.42, "ci_low": 0.1, "ci_high": 0.7}])
    blocks = influence_trust(analysis(run, str(check)))
    assert "UNVERIFIED for this run's setting (scope last-1, solver lissa)" in blocks[0].text
    with pytest.raises(MolpeftError, match="no such file"):
        influence_trust(analysis(run, str(tmp_path / "missing.parquet")))
