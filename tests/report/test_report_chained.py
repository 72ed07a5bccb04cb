"""The report on hand-chained evaluations: cells read from the manifests (any file names, found recursively, or
given as arguments), the route from the base model (a `molpeft mlm` output: two-stage; else direct), and what a
folder without the run layout leaves out."""

import json

import numpy as np
import polars as pl
import pytest

from molpeft_cli.errors import MolpeftError
from molpeft_cli.report import ForestConfig, ReportOptions, build_report
from molpeft_cli.report.collect import collect_run
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION
from tests.conftest import assert_one_line_error, invoke
from tests.report.chained_factory import bundled_base, mlm_model, probabilities, split_table, write_cell

FAST = ReportOptions(n_resamples=200, forest=ForestConfig(n_trees=20), chemprop=False)


def _regression_folder(folder, *, direct_names_lie=True):
    """Direct cells (base: the bundled pretrained model) under misleading `two-stage-...` names and in two
    sub-folders, plus one two-stage cell (base: an MLM output) under a plain name."""
    data = folder / "inputs" / "my_split.parquet"
    data.parent.mkdir(parents=True)
    table = split_table(REGRESSION)
    table.write_parquet(data)
    test = table.filter(pl.col("split") == "test")
    rng = np.random.default_rng(0)
    labels = test["label"].to_numpy()
    for seed in (0, 1):
        for peft, selection, noise in (("full", "none", 0.6), ("lora", "none", 0.9), ("lora", "maxmin", 0.7)):
            name = f"two-stage-{peft}-{selection}-s{seed}" if direct_names_lie else f"{peft}-{seed}"
            write_cell(folder / f"seed{seed}", name, peft=peft, selection=selection, seed=seed, base=bundled_base(),
                       test=test, prediction=labels + rng.normal(scale=noise, size=labels.size), task=REGRESSION,
                       data=data)
    mlm = mlm_model(folder / "pretrain" / "mlm-out")
    write_cell(folder / "seed0", "after_mlm", peft="full", selection="none", seed=0,
               base={"ref": str(mlm), "path": str(mlm), "sha256": "2" * 64}, test=test,
               prediction=labels + rng.normal(scale=0.5, size=labels.size), task=REGRESSION, data=data)
    return folder


def test_direct_cells_made_by_hand_are_direct_whatever_their_names(tmp_path):
    folder = _regression_folder(tmp_path / "chained")
    data = collect_run(folder)
    variants = {(r["variant"], r["adapter"], r["selection"], r["seed"]) for r in data.metrics.iter_rows(named=True)}
    assert ("direct", "lora", "maxmin", 1) in variants and ("direct", "full", "none", 0) in variants
    assert ("two-stage", "full", "none", 0) in variants  # the one cell whose base model is an MLM output
    assert not any(v == "two-stage" and a == "lora" for v, a, _, _ in variants)  # names said two-stage: ignored
    assert data.routes == {"base model": 7} and data.layout == "directory"
    assert data.split_path == folder / "inputs" / "my_split.parquet"  # the table eval scored, from its manifest


def test_a_folder_of_direct_cells_reports_them_as_direct(tmp_path):
    folder = tmp_path / "chained"
    data_path = folder / "split.parquet"
    folder.mkdir()
    table = split_table(REGRESSION)
    table.write_parquet(data_path)
    test = table.filter(pl.col("split") == "test")
    rng = np.random.default_rng(1)
    labels = test["label"].to_numpy()
    for peft, noise in (("full", 0.5), ("bitfit", 0.8)):
        write_cell(folder, f"{peft}.run", peft=peft, selection="none", seed=0, base=bundled_base(), test=test,
                   prediction=labels + rng.normal(scale=noise, size=labels.size), task=REGRESSION, data=data_path)
    report = build_report(folder, tmp_path / "report", FAST)
    markdown = (report / "report.md").read_text()
    assert "Direct cells (supervised from the base model, no MLM stage)" in markdown
    assert "Two-stage cells" not in markdown and "two-stage: MLM, then supervised" not in markdown
    assert "direct: supervised from the base model" in markdown  # the matrix caption names the route
    assert "| bitfit |" in markdown and "RF baseline (20 trees)" in markdown  # the split came from eval's manifest
    # what the folder lacks, said rather than failed on, and the minimal layout documented
    assert "Left out, because these evaluations come without them:" in markdown
    assert "run.json (the run's settings" in markdown and "no leakage audit" in markdown
    assert "The minimal layout:" in markdown
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["layout"] == "directory" and manifest["routes"] == {"base model": 2}


def test_report_on_metrics_tables_given_as_arguments(runner, tmp_path):
    folder = _regression_folder(tmp_path / "chained", direct_names_lie=False)
    tables = sorted(str(p) for p in (folder / "seed0").glob("*.metrics.parquet"))
    tables += [str(folder / "seed1" / "full-1.metrics.parquet")]
    out = tmp_path / "report"
    result = invoke(runner, ["report", "-o", str(out), *tables, "--rf-trees", "20", "--resamples", "200",
                             "--no-chemprop"])
    assert result.exit_code == 0, result.output
    cells = pl.read_parquet(out / "cells.parquet")
    assert cells.height == len(tables) == 4
    assert set(cells.filter(pl.col("variant") == "direct")["adapter"]) == {"full", "lora"}
    assert cells.filter(pl.col("variant") == "two-stage").height == 1
    markdown = (out / "report.md").read_text()
    assert "metrics tables under" in markdown and "the metrics tables given" in markdown
    assert json.loads((out / "manifest.json").read_text())["given"] == tables


def test_arguments_must_be_one_folder_or_metrics_tables(runner, tmp_path):
    folder = _regression_folder(tmp_path / "chained")
    assert_one_line_error(invoke(runner, ["report", "-o", str(tmp_path / "r"), str(folder / "inputs" /
                                                                                    "my_split.parquet")]),
                          "one directory or metrics tables")
    assert_one_line_error(invoke(runner, ["report", "-o", str(tmp_path / "r"), str(tmp_path / "x.metrics.parquet")]),
                          "metrics table not found")


def test_an_evaluation_without_a_metrics_table_is_read_from_its_manifest(tmp_path):
    folder = tmp_path / "chained"
    data_path = folder / "split.parquet"
    folder.mkdir()
    table = split_table(REGRESSION)
    table.write_parquet(data_path)
    test = table.filter(pl.col("split") == "test")
    write_cell(folder, "only-predictions", peft="ia3", selection="none", seed=4, base=bundled_base(), test=test,
               prediction=test["label"].to_numpy() + 0.3, task=REGRESSION, data=data_path, metrics=False)
    data = collect_run(folder)
    row = data.metrics.row(0, named=True)
    assert (row["variant"], row["adapter"], row["seed"]) == ("direct", "ia3", 4)
    assert row["mse"] == pytest.approx(0.09)


def test_cells_of_both_tasks_are_refused_with_one_line(tmp_path):
    folder = _regression_folder(tmp_path / "chained")
    table = split_table(CLASSIFICATION)
    test = table.filter(pl.col("split") == "test")
    write_cell(folder / "seed0", "binary", peft="full", selection="none", seed=7, base=bundled_base(), test=test,
               prediction=probabilities(np.random.default_rng(0), test["label"].to_numpy(), 1.0),
               task=CLASSIFICATION, data=folder / "inputs" / "my_split.parquet")
    with pytest.raises(MolpeftError, match="mix tasks"):
        collect_run(folder)


def test_a_moved_base_model_is_found_by_name_and_hash(tmp_path):
    """A folder copied elsewhere: the recorded base path is gone, a folder of that name with the recorded weights
    hash is found under the root; without it, eval's recorded route label is the fallback."""
    from molpeft_cli.training.checkpoint import weights_sha256

    folder = tmp_path / "moved"
    data_path = folder / "split.parquet"
    folder.mkdir()
    table = split_table(REGRESSION)
    table.write_parquet(data_path)
    test = table.filter(pl.col("split") == "test")
    mlm = mlm_model(folder / "models" / "stage-one")
    gone = {"ref": "/nowhere/stage-one", "path": "/nowhere/stage-one", "sha256": weights_sha256(mlm)}
    write_cell(folder, "a", peft="full", selection="none", seed=0, base=gone, test=test,
               prediction=test["label"].to_numpy(), task=REGRESSION, data=data_path)
    lost = {"ref": "/nowhere/other", "path": "/nowhere/other", "sha256": "3" * 64}
    write_cell(folder, "b", peft="lora", selection="none", seed=0, base=lost, test=test,
               prediction=test["label"].to_numpy(), task=REGRESSION, data=data_path, variant="two-stage")
    data = collect_run(folder)
    routes = {r["adapter"]: r["variant"] for r in data.metrics.iter_rows(named=True)}
    assert routes == {"full": "two-stage", "lora": "two-stage"}
    assert data.routes == {"base model": 1, "recorded label": 1}


def test_the_header_names_the_dataset_and_task_from_run_json(tmp_path):
    folder = _regression_folder(tmp_path / "chained")
    (folder / "run.json").write_text(json.dumps({"data": {"source": "my.csv", "label_col": "logD"}}))
    markdown = (build_report(folder, tmp_path / "report", FAST) / "report.md").read_text()
    assert "| dataset | source: my.csv, label_col: logD |" in markdown
    assert "| task | regression (main metric: MSE) |" in markdown
