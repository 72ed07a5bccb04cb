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


@pytest.fixture(scope="module")
def binary_csv(tmp_path_factory):
    """300 molecules with a true/false endpoint (logD >= 2.5: about 40% true) and a `Compound ID` column."""
    from molpeft_cli.data.registry import assets_dir

    table = pl.read_csv(assets_dir() / "lipophilicity.csv").head(300)
    path = tmp_path_factory.mktemp("binary") / "binary.csv"
    table.select(pl.col("CMPD_CHEMBLID").alias("Compound ID"), pl.col("smiles"),
                 (pl.col("exp") >= 2.5).alias("permeable")).write_csv(path)
    return path


def test_a_binary_endpoint_runs_as_classification_end_to_end(tmp_path, binary_csv, runner):
    run_dir = tmp_path / "run"
    result = invoke(runner, ["--threads", "1", "-q", "run", "--profile", "tiny", "-o", str(run_dir), "--data",
                             str(binary_csv), "--label-col", "permeable"])  # every adapter and strategy
    assert result.exit_code == 0, result.output
    cells = pl.concat([pl.read_parquet(p) for p in (run_dir / "eval").glob("*.metrics.parquet")], how="diagonal")
    assert cells.height == 24 and cells["roc_auc"].is_not_null().all() and set(cells["task"]) == {"classification"}
    data_manifest = json.loads((run_dir / "data" / "molecules.parquet.manifest.json").read_text())
    assert data_manifest["task"] == "classification"
    assert data_manifest["label_mapping"] == {"positive": "true", "negative": "false"}
    molecules = pl.read_parquet(run_dir / "data" / "molecules.parquet")
    assert set(molecules["label"].unique().to_list()) == {0.0, 1.0}
    assert molecules["mol_id"].str.starts_with("CHEMBL").all()  # `Compound ID` found as the id
    meta = json.loads((run_dir / "cells" / "two-stage-lora-none-s0" / "finetune.json").read_text())
    assert meta["task"] == "classification" and meta["label_scaling"] == {"mean": 0.0, "std": 1.0}
    metrics = pl.read_parquet(run_dir / "eval" / "two-stage-full-random-s0.metrics.parquet")
    assert {"roc_auc", "pr_auc", "log_loss", "brier"} <= set(metrics.columns) and "mse" not in metrics.columns
    predictions = pl.read_parquet(run_dir / "eval" / "two-stage-full-none-s0.predictions.parquet")
    assert predictions["probability"].is_between(0.0, 1.0).all()
    selection = json.loads((run_dir / "selections" / "mcdropout-s0.parquet.manifest.json").read_text())
    assert selection["selection"]["uncertainty"] == "bald"
    scores = json.loads((run_dir / "scores" / "influence-s0.parquet.manifest.json").read_text())
    assert scores["influence"]["task"] == "classification"
    report = (run_dir / "report" / "report.md").read_text()
    assert "Test ROC-AUC: adapter × selection" in report and "RF classifier" in report
    assert (run_dir / "report" / "figures" / "roc.png").is_file()
    assert (run_dir / "report" / "figures" / "calibration.png").is_file()


def test_run_task_classification_on_continuous_labels_is_one_line(tmp_path, own_csv, runner):
    result = invoke(runner, ["--threads", "1", "run", "--profile", "tiny", "-o", str(tmp_path / "r"), "--data",
                             str(own_csv), "--label-col", "logD", "--task", "classification", "--adapters", "full",
                             "--selections", "none"])
    assert_one_line_error(result)
    assert "classification" in result.stderr
