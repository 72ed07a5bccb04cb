"""`molpeft run --data FILE` runs the study on the user's own dataset, with its own column names, and records it."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def own_csv(tmp_path_factory):
    """300 molecules of the bundled set under another file's column names (a solubility-style CSV)."""
    from molpeft_cli.data.registry import assets_dir

    table = pl.read_csv(assets_dir() / "lipophilicity.csv").head(300)
    path = tmp_path_factory.mktemp("own") / "own.csv"
    table.select(pl.col("CMPD_CHEMBLID").alias("Compound ID"), pl.col("smiles").alias("SMILES string"),
                 pl.lit(1.0).alias("other"), pl.col("exp").alias("logD")).write_csv(path)
    return path


def test_run_takes_the_users_dataset_and_columns(tmp_path, own_csv, runner):
    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "-q", "run", "--profile", "tiny", "-o", str(run_dir), "--data",
                             str(own_csv), "--smiles-col", "SMILES string", "--label-col", "logD", "--id-col",
                             "Compound ID", "--adapters", "full", "--selections", "none,random"])
    assert result.exit_code == 0, result.output
    described = json.loads((run_dir / "run.json").read_text())["data"]
    assert described == {"source": str(own_csv.resolve()), "smiles_col": "SMILES string", "label_col": "logD",
                         "id_col": "Compound ID"}
    molecules = pl.read_parquet(run_dir / "data" / "molecules.parquet")
    assert molecules["mol_id"].str.starts_with("CHEMBL").all()  # the file's own ids
    source = pl.read_csv(own_csv)
    labels = dict(zip(source["Compound ID"], source["logD"], strict=True))
    assert all(labels[i] == v for i, v in zip(molecules["mol_id"], molecules["label"], strict=True))
    assert (run_dir / "report" / "report.md").is_file()


def test_run_refuses_a_missing_dataset_in_one_line(tmp_path, runner):
    result = invoke(runner, ["run", "--profile", "tiny", "-o", str(tmp_path / "r"), "--data",
                             str(tmp_path / "nope.csv"), "--dry-run"])
    assert_one_line_error(result, "dataset file not found")


def test_the_default_dataset_leaves_run_json_as_it_was(tmp_path):
    from molpeft_cli.pipeline.study import StudyConfig, plan_study

    plan = plan_study(StudyConfig(output=str(tmp_path / "r"), profile="tiny"))
    assert "data" not in plan.describe() and plan.steps[0].config.source == "lipophilicity"
