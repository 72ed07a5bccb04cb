"""`molpeft influence` with no solver flags on a tiny model fine-tuned two epochs: it converges, agrees with the
exact solve, and a run that stops short says so in one line and in the manifest."""

from __future__ import annotations

import json

import polars as pl
from scipy.stats import spearmanr

from tests.conftest import invoke


def run_influence(runner, tiny_finetuned, name: str, *flags: str):
    directory, split, pool, ck = tiny_finetuned
    out = directory / f"{name}.parquet"
    result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(pool), "--params", "head",
                             "-o", str(out), *flags])
    assert result.exit_code == 0, result.output
    manifest = json.loads((directory / f"{name}.parquet.manifest.json").read_text())
    return pl.read_parquet(out), manifest["influence"]["ihvp"], result


def test_default_converges_and_agrees_with_exact(runner, tiny_finetuned) -> None:
    default, ihvp, result = run_influence(runner, tiny_finetuned, "default")
    assert ihvp["solver"] == "lissa" and ihvp["converged"] and not ihvp["stopped_short"]
    assert ihvp["residual"] <= 0.02 and ihvp["iterations"] < 2000
    assert "stopped short" not in result.stderr
    exact, exact_ihvp, _ = run_influence(runner, tiny_finetuned, "exact", "--solver", "exact",
                                         "--damping", repr(ihvp["damping"]))
    assert exact_ihvp["damping"] == ihvp["damping"]
    # the auto step and damping come from a power-iteration estimate of the top of the exact spectrum
    assert 0.9 <= ihvp["lambda_max"] / exact_ihvp["hessian_max_eigenvalue"] <= 1.5
    assert spearmanr(default["score"].to_numpy(), exact["score"].to_numpy())[0] >= 0.95


def test_a_run_that_stops_short_says_so(runner, tiny_finetuned) -> None:
    _, ihvp, result = run_influence(runner, tiny_finetuned, "short", "--depth", "20")
    lines = [line for line in result.stderr.splitlines() if "stopped short" in line]
    assert len(lines) == 1 and f"{ihvp['residual']:.3g}" in lines[0]
    shown = " ".join(result.stderr.split())  # Rich wraps long lines
    assert "(--depth 20)" in shown and "or compare with --solver exact" in shown  # the CLI shows flags
    assert "(depth 20)" in ihvp["note"]  # the manifest names settings
    assert ihvp["stopped_short"] and not ihvp["converged"] and ihvp["residual"] > 0.02
    assert ihvp["iterations"] == 20 and "stopped short" in ihvp["note"]


def test_original_study_settings_as_flags(runner, tiny_finetuned) -> None:
    _, ihvp, _ = run_influence(runner, tiny_finetuned, "original", "--depth", "200", "--step", "0.04",
                               "--damping", "0.01", "--fixed-depth")
    assert ihvp["iterations"] == 200 and ihvp["step"] == 0.04 and ihvp["damping"] == 0.01


def test_projected_scores_every_trainable_parameter(runner, tiny_finetuned) -> None:
    directory, split, pool, ck = tiny_finetuned
    out = directory / "projected.parquet"
    result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(pool), "--solver",
                             "projected", "--proj-dim", "256", "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((directory / "projected.parquet.manifest.json").read_text())["influence"]
    assert summary["n_params"] > 256 and summary["ihvp"]["proj_dim"] == 256 and summary["ihvp"]["converged"]
    assert pl.read_parquet(out)["score"].is_finite().all()
