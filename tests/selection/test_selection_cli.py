"""`molpeft select` and `molpeft influence` through the CLI, with the leakage guard."""

from __future__ import annotations

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def split_and_pool(tmp_path_factory):
    from molpeft_cli.chem.carve import carve_pool
    from molpeft_cli.chem.splitters import split_molecules
    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table

    table = build_molecule_table(read_table(resolve_source("lipophilicity").path).head(200),
                                 source="lipophilicity").molecules
    rest, pool = carve_pool(table, 40, seed=0)
    split = split_molecules(rest, "random", (0.8, 0.1, 0.1), seed=0)
    test_mol = split.filter(pl.col("split") == "test").head(2).drop("split", "scaffold")
    pool = pl.concat([pool, test_mol.with_columns(pl.lit("pool").alias("source"))])  # two leaking molecules
    d = tmp_path_factory.mktemp("sel")
    split.write_parquet(d / "split.parquet")
    pool.write_parquet(d / "pool.parquet")
    return d, test_mol["mol_id"].to_list()


@pytest.mark.parametrize("strategy", ["random", "maxmin", "all"])
def test_select_excludes_leaking_molecules(runner, split_and_pool, strategy):
    d, leaking = split_and_pool
    out = d / f"{strategy}.parquet"
    result = invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", strategy, "-k", "10",
                             "--exclude", str(d / "split.parquet"), "--train", str(d / "split.parquet"),
                             "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "excluded 2 pool molecules" in result.stderr
    chosen = pl.read_parquet(out)
    assert not set(leaking) & set(chosen["mol_id"].to_list())
    assert chosen.height == (40 if strategy == "all" else 10)
    assert set(chosen["strategy"].to_list()) == {strategy}


def test_influence_and_mcdropout_from_a_checkpoint(runner, split_and_pool, tiny_base):
    d, leaking = split_and_pool
    ckpt = d / "ck"
    result = invoke(runner, ["finetune", str(d / "split.parquet"), "--model", str(tiny_base),
                             "--max-epochs", "1", "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    scores = d / "scores.parquet"
    result = invoke(runner, ["influence", str(ckpt), "--train", str(d / "split.parquet"), "--pool",
                             str(d / "pool.parquet"), "--params", "head", "--solver", "exact", "-o", str(scores)])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(scores)
    assert table.height == 42 and table["score"].is_finite().all()
    result = invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", "influence", "--scores", str(scores),
                             "--exclude", str(d / "split.parquet"), "-k", "5", "-o", str(d / "inf.parquet")])
    assert result.exit_code == 0, result.output
    chosen = pl.read_parquet(d / "inf.parquet")
    assert (chosen["score"] > 0).all() and not set(leaking) & set(chosen["mol_id"].to_list())
    result = invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", "mcdropout", "--model", str(ckpt),
                             "--passes", "4", "-k", "5", "--exclude", str(d / "split.parquet"),
                             "-o", str(d / "mc.parquet")])
    assert result.exit_code == 0, result.output
    mc = pl.read_parquet(d / "mc.parquet")
    assert mc.height == 5 and (mc["score"] > 0).all()
    result = invoke(runner, ["influence", str(ckpt), "--train", str(d / "split.parquet"), "--pool",
                             str(d / "pool.parquet"), "--params", "head", "--target", "test", "--solver", "cg",
                             "--damping", "0.1", "-o", str(d / "leaky.parquet")])
    assert result.exit_code == 0 and "TEST split" in result.stderr
    import json

    assert json.loads((d / "leaky.parquet.manifest.json").read_text())["leakage"] is True


def test_select_bad_input(runner, split_and_pool):
    d, _ = split_and_pool
    assert_one_line_error(invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", "greedy", "-o", "-"]),
                          "unknown --strategy")
    assert_one_line_error(invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", "mcdropout", "-o", "-"]),
                          "needs --model")
    assert_one_line_error(invoke(runner, ["select", str(d / "pool.parquet"), "--strategy", "influence", "-o", "-"]),
                          "needs --scores")
