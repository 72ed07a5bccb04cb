"""`select --strategy mcdropout` checks its uncertainty on the split's valid rows: the manifest's
`validation_uncertainty` equals a hand computation from the recorded MC passes (regression: Spearman of sd vs
|error|, coverage of +-1.96 sd, the interval calibration curve; classification: Spearman of BALD vs |p - y|, the
reliability table), one log line says it, and the selection table is the one chosen without the check."""

from __future__ import annotations

import json
import statistics

import numpy as np
import polars as pl
import pytest

from molpeft_cli.selection.mcdropout import length_sorted
from tests.conftest import invoke

PASSES = 6


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield


def recorded_passes(ck, split, task: str) -> tuple[np.ndarray, np.ndarray]:
    """((passes, rows) MC predictions of the valid rows, as the selection draws them, and their labels)."""
    from molpeft_cli.selection import REGISTRY, SelectionInputs
    from molpeft_cli.selection.mc_dropout import mc_dropout_summaries
    from molpeft_cli.selection.mcdropout import _length_sorted_batches
    from molpeft_cli.training.checkpoint import load_finetuned

    ft = load_finetuned(ck, "cpu")
    valid = length_sorted(pl.read_parquet(split).filter(pl.col("split") == "valid"))
    _, context = REGISTRY["mcdropout"].context(SelectionInputs(valid, model=ft))
    samples = []

    def keep(block):
        samples.append(block.numpy())
        return (block.mean(0),)

    mc_dropout_summaries(ft.model, context.predict, _length_sorted_batches(ft, valid, True, 64), keep, PASSES, 0)
    return np.concatenate(samples, axis=1), valid["label"].to_numpy()


def ranks(x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x))
    out[np.argsort(x)] = np.arange(len(x))
    return out


def hand_spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.nan_to_num(p * np.log(p)) - np.nan_to_num((1 - p) * np.log(1 - p))


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_the_manifest_records_the_validation_check_of_the_uncertainty(runner, setups, task, tmp_path):
    from molpeft_cli.steps.select import run_selection

    split, pool, ck = setups[task]
    out = tmp_path / "mc.parquet"
    result = invoke(runner, ["select", str(pool), "--strategy", "mcdropout", "--model", str(ck), "-k", "5",
                             "--passes", str(PASSES), "--exclude", str(split), "--seed", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "validation molecules: Spearman" in line]
    assert len(lines) == 1, result.stderr
    record = json.loads(out.with_name(out.name + ".manifest.json").read_text())["validation_uncertainty"]

    samples, labels = recorded_passes(ck, split, task)
    mean = samples.mean(0)
    assert record["n"] == len(labels) == 15
    if task == "regression":
        sd = samples.std(0, ddof=1)
        error = np.abs(mean - labels)
        assert record["uncertainty"] == "std"
        assert record["spearman"] == pytest.approx(hand_spearman(sd, error), abs=1e-9)
        assert record["coverage_95"] == pytest.approx(sum(e <= 1.96 * s for e, s in zip(error, sd, strict=True)) / 15)
        levels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
        assert [c["level"] for c in record["calibration"]] == levels
        for point in record["calibration"]:
            z = statistics.NormalDist().inv_cdf((1 + point["level"]) / 2)
            assert point["observed"] == pytest.approx(float(np.mean(error <= z * sd)))
        assert "reliability" not in record
    else:
        bald = entropy(mean) - entropy(samples).mean(0)
        assert record["uncertainty"] == "bald"
        assert record["spearman"] == pytest.approx(hand_spearman(bald, np.abs(mean - labels)), abs=1e-9)
        assert [b["bin"] for b in record["reliability"]] == list(range(10))
        assert sum(b["count"] for b in record["reliability"]) == 15
        for b in record["reliability"]:
            inside = [i for i in range(15) if b["bin"] / 10 <= mean[i] < (b["bin"] + 1) / 10
                      or (b["bin"] == 9 and mean[i] == 1.0)]
            assert b["count"] == len(inside)
            if inside:
                assert b["mean_predicted"] == pytest.approx(mean[inside].mean())
                assert b["observed"] == pytest.approx(labels[inside].mean())
            else:
                assert b["mean_predicted"] is None and b["observed"] is None
        assert "coverage_95" not in record

    # the selection is the one chosen without the check, to the bit
    options = {"k": 5, "seed": 0, "passes": PASSES}
    split_table = pl.read_parquet(split)
    alone, _ = run_selection(pl.read_parquet(pool), "mcdropout", options, split_table, ("valid", "test"),
                             split_table, str(ck), None, True, device="cpu")
    assert pl.read_parquet(out).equals(alone)


def test_without_a_split_table_there_is_nothing_to_check(runner, setups, tmp_path):
    split, pool, ck = setups["regression"]
    out = tmp_path / "mc.parquet"
    result = invoke(runner, ["select", str(pool), "--strategy", "mcdropout", "--model", str(ck), "-k", "5",
                             "--passes", str(PASSES), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "validation_uncertainty" not in json.loads(out.with_name(out.name + ".manifest.json").read_text())
