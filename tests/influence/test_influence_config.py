"""`InfluenceConfig` nests the solver's `SolverConfig`: the same flags and TOML keys as before, the same manifest
parameters, and errors that name the setting in the library and the flag on the command line."""

from __future__ import annotations

import pytest

from molpeft_cli.errors import SettingError
from molpeft_cli.influence.solvers import SolverConfig
from molpeft_cli.schema import build, parse_args, to_args
from molpeft_cli.steps.influence import InfluenceConfig, manifest_params
from tests.conftest import assert_one_line_error, invoke

FILES = ["CK", "--train", "split.parquet", "--pool", "pool.parquet", "-o", "scores.parquet"]


def test_solver_flags_fill_the_nested_solver_config() -> None:
    config = parse_args(InfluenceConfig, [*FILES, "--params", "head", "--solver", "exact", "--depth", "50",
                                          "--tol", "0.1", "--fixed-depth", "--damping", "0.1", "--damping-ratio",
                                          "0.02", "--step", "auto", "--repeats", "2", "--proj-dim", "64", "--hvp",
                                          "forward-over-reverse"])
    assert config.ihvp == SolverConfig(solver="exact", depth=50, tol=0.1, fixed_depth=True, damping="0.1",
                                       damping_ratio=0.02, step="auto", repeats=2, proj_dim=64,
                                       hvp="forward-over-reverse")
    assert parse_args(InfluenceConfig, to_args(config)) == config


def test_manifest_params_are_the_settings_as_given() -> None:
    """The keys and values the step recorded when it listed them by hand (the tiny profile's influence step)."""
    config = parse_args(InfluenceConfig, [*FILES, "--params", "head", "--depth", "50", "--step", "auto",
                                          "--damping", "0.1"])
    assert manifest_params(config) == {
        "target": "valid", "params": "head", "solver": "lissa", "depth": 50, "tol": 0.02, "fixed_depth": False,
        "damping": "0.1", "damping_ratio": 0.01, "step": "auto", "repeats": 1, "hvp": "double-backward",
        "proj_dim": 2048, "batch_size": 32, "truncate": True}


def test_a_settings_file_sets_the_solver(tmp_path) -> None:
    toml = tmp_path / "influence.toml"
    toml.write_text('[influence]\nsolver = "cg"\ndamping = "0.05"\nparams = "head"\n')
    files = {"checkpoint": "CK", "train": "s", "pool": "p", "output": "o", "config": str(toml)}
    config = build(InfluenceConfig, files, {"ihvp": {"depth": 7}})
    assert (config.params, config.ihvp.solver, config.ihvp.damping_value, config.ihvp.depth) == ("head", "cg", 0.05, 7)


def test_bad_solver_settings_name_the_setting_or_the_flag(runner) -> None:
    with pytest.raises(SettingError, match=r"^damping must be a number or 'auto'"):
        SolverConfig(damping="lots")
    assert_one_line_error(invoke(runner, ["influence", *FILES, "--damping", "lots"]), "--damping must be a number")
    assert_one_line_error(invoke(runner, ["influence", *FILES, "--solver", "newton"]), "unknown --solver 'newton'")
