"""`molpeft tune` on the tiny model: the grid, the scores (validation only), the winner, resuming and workers."""

from __future__ import annotations

import json
import tomllib

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


def test_lora_grid_crosses_rate_rank_and_alpha():
    from molpeft_cli.tuning import grid_for

    grid = grid_for("lora", lr=[1e-4, 3e-4], lora_rank=[8, 16])
    assert len(grid) == 2 * 2 * 2  # alpha = rank and 2 rank for each rank
    assert {(c["lora_rank"], c["lora_alpha"]) for c in grid.as_dicts()} == {(8, 8.0), (8, 16.0), (16, 16.0),
                                                                           (16, 32.0)}
    assert grid_for("ia3", lr=[1e-3]).varied() == ["lr"]
    assert len(grid_for("full")) == 3


def test_tune_picks_the_lowest_validation_mse_and_never_reads_test(runner, tiny_base, lipo_split_small, tmp_path):
    out = tmp_path / "sweep"
    args = ["tune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "lora", "--grid-lr", "1e-3,1e-2",
            "--grid-lora-rank", "4", "--max-epochs", "3", "--patience", "1", "--batch-size", "32", "-o", str(out)]
    result = invoke(runner, args)
    assert result.exit_code == 0, result.output
    trials = pl.read_parquet(out / "trials.parquet")
    summary = pl.read_parquet(out / "results.parquet")
    assert trials.height == 4 and summary.height == 4  # 2 rates x (alpha 4, 8)
    winner = summary.row(0, named=True)
    assert winner["valid_mse_mean"] == trials["valid_mse"].min() and winner["gap_to_best"] == 0
    assert summary["gap_to_best"].is_sorted() and summary["gap_to_best"][1] > 0
    table = (out / "tune.md").read_text()
    assert "Winner: lr = " in table and "won by" in table and "runner-up" in table
    best = tomllib.loads((out / "best.toml").read_text())["finetune"]
    assert (best["lr"], best["lora_rank"], best["lora_alpha"]) == (winner["lr"], 4, winner["lora_alpha"])
    assert json.loads((out / "manifest.json").read_text())["command"] == "tune"

    # independent check: `finetune --config best.toml` reproduces the winner's validation MSE exactly
    ckpt = tmp_path / "ck"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--config",
                             str(out / "best.toml"), "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert json.loads((ckpt / "finetune.json").read_text())["best_valid_mse"] == pytest.approx(
        winner["valid_mse_mean"], rel=1e-12)

    # the test rows are never read: scrambling their labels and SMILES changes nothing
    split = pl.read_parquet(lipo_split_small)
    scrambled = split.with_columns(
        pl.when(pl.col("split") == "test").then(pl.lit(99.0)).otherwise(pl.col("label")).alias("label"),
        pl.when(pl.col("split") == "test").then(pl.lit("C")).otherwise(pl.col("smiles_canonical"))
        .alias("smiles_canonical"))
    other = tmp_path / "scrambled.parquet"
    scrambled.write_parquet(other)
    result = invoke(runner, ["tune", str(other), *args[2:-1], str(tmp_path / "sweep2")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "sweep2" / "trials.parquet").drop("train_seconds").equals(
        trials.drop("train_seconds"))


def test_tune_resumes_and_workers_give_the_same_scores(runner, tiny_base, lipo_split_small, tmp_path):
    # bitwise equality needs the same thread count per trial (floating-point sums depend on it)
    args = ["--threads", "1", "tune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "bitfit",
            "--grid-lr", "1e-3,1e-2",
            "--max-epochs", "2", "--patience", "1", "--batch-size", "32"]
    result = invoke(runner, [*args, "-o", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    again = invoke(runner, [*args, "-o", str(tmp_path / "a")])
    assert again.exit_code == 0 and "2 trials already done, 0 to run" in again.stderr
    parallel = invoke(runner, [*args, "--jobs", "2", "-o", str(tmp_path / "b")])
    assert parallel.exit_code == 0, parallel.output
    one, two = (pl.read_parquet(tmp_path / d / "trials.parquet").drop("train_seconds") for d in "ab")
    assert one.equals(two)


@pytest.mark.parametrize("extra,needle", [
    (["--peft", "prefix"], "unknown --peft"),
    (["--peft", "full", "--grid-lora-rank", "4"], "--grid-lora-rank applies to LoRA only"),
    (["--grid-lr", "0,1e-3"], "--grid-lr values must be positive"),
    (["--grid-lr", "abc"], "--grid-lr"),
])
def test_tune_bad_options(runner, tiny_base, lipo_split_small, tmp_path, extra, needle):
    result = invoke(runner, ["tune", str(lipo_split_small), "--model", str(tiny_base), "-o", str(tmp_path / "s"),
                             *extra])
    assert_one_line_error(result, needle)


def test_tune_refuses_a_folder_that_is_not_a_sweep(runner, tiny_base, lipo_split_small, tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    result = invoke(runner, ["tune", str(lipo_split_small), "--model", str(tiny_base), "-o", str(tmp_path)])
    assert_one_line_error(result, "holds no earlier sweep")
    assert (tmp_path / "keep.txt").read_text() == "precious"
