"""CLI tests for data, split and audit: happy paths, bad input, pipes, help speed."""

import json
import subprocess
import sys

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


def test_data_small_csv_with_rejects_and_manifest(runner, tmp_path, small_csv):
    small_csv.write_text(small_csv.read_text() + "m11,not_a_smiles,1.0\nm12,CCCl,\n")
    out, rej = tmp_path / "m.parquet", tmp_path / "rej.csv"
    result = invoke(runner, ["data", str(small_csv), "-o", str(out), "--rejects", str(rej)])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table.columns == ["mol_id", "smiles", "smiles_canonical", "inchikey", "label", "source"]
    assert table.height == 10 and table["mol_id"][0] == "m1"
    assert "2 rows rejected" in result.stderr
    assert sorted(pl.read_csv(rej)["mol_id"].to_list()) == ["m11", "m12"]
    manifest = json.loads((tmp_path / "m.parquet.manifest.json").read_text())
    assert manifest["command"] == "data" and manifest["counts"] == {"molecules": 10, "rejects": 2,
                                                                     "duplicate_groups": 0}


def test_data_strict_fails_on_any_reject(runner, tmp_path, small_csv):
    small_csv.write_text(small_csv.read_text() + "m11,not_a_smiles,1.0\n")
    result = invoke(runner, ["data", str(small_csv), "-o", str(tmp_path / "m.parquet"), "--strict"])
    assert_one_line_error(result, "--strict")
    assert not (tmp_path / "m.parquet").exists()


def test_split_and_audit_commands(runner, tmp_path, small_csv):
    mols, split, audit = tmp_path / "m.parquet", tmp_path / "s.parquet", tmp_path / "a.parquet"
    assert invoke(runner, ["data", str(small_csv), "-o", str(mols)]).exit_code == 0
    result = invoke(runner, ["--seed", "3", "split", str(mols), "--strategy", "random", "-o", str(split),
                             "--summary", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert set(pl.read_parquet(split)["split"].to_list()) == {"train", "valid", "test"}
    assert json.loads((tmp_path / "s.json").read_text())["strategy"] == "random"
    assert json.loads((tmp_path / "s.parquet.manifest.json").read_text())["seed"] == 3
    pool = tmp_path / "pool.csv"
    pool.write_text("SMILES,Label\nOCC,9.0\nCCCCCCCCCl,1.0\n")
    result = invoke(runner, ["audit", str(split), str(pool), "-o", str(audit), "--summary", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    hits = pl.read_parquet(audit)
    assert hits["match"].to_list() == ["inchikey"] and hits["dataset_mol_id"].to_list() == ["m1"]


def test_split_compare_writes_one_row_per_strategy(runner, tmp_path, small_csv):
    mols = tmp_path / "m.parquet"
    invoke(runner, ["data", str(small_csv), "-o", str(mols)])
    result = invoke(runner, ["split", str(mols), "--compare", "-o", str(tmp_path / "cmp.csv")])
    assert result.exit_code == 0, result.output
    cmp = pl.read_csv(tmp_path / "cmp.csv")
    assert cmp["strategy"].to_list() == ["random", "scaffold", "weight", "maxmin", "butina", "fingerprint"]


def test_audit_on_the_seed_pool_finds_11_and_27(runner, tmp_path, external_pool):
    mols, split = tmp_path / "m.parquet", tmp_path / "s.parquet"
    assert invoke(runner, ["data", "lipophilicity", "-o", str(mols)]).exit_code == 0
    assert invoke(runner, ["split", str(mols), "-o", str(split)]).exit_code == 0
    result = invoke(runner, ["audit", str(split), str(external_pool), "-o", str(tmp_path / "a.parquet"),
                             "--summary", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "a.json").read_text())
    assert (summary["same_inchikey"], summary["same_skeleton"]) == (11, 27)


# --- bad input: one clear error line, non-zero exit, no traceback -------------------------------------------

def _bad_files(tmp_path):
    files = {
        "empty": ("empty.csv", ""),
        "header_only": ("header.csv", "smiles,label\n"),
        "no_smiles_column": ("nosmiles.csv", "name,label\nx,1.0\n"),
        "all_invalid": ("invalid.csv", "smiles,label\nxyz,1.0\nC1CC,2.0\n"),
        "nan_labels": ("nan.csv", "smiles,label\nCCO,nan\nCCN,NaN\n"),
        "bad_parquet": ("bad.parquet", "PAR1garbage"),
    }
    paths = {}
    for key, (name, text) in files.items():
        paths[key] = tmp_path / name
        paths[key].write_text(text)
    return paths


@pytest.mark.parametrize("case,needle", [
    ("missing", "not found"),
    ("empty", "empty"),
    ("header_only", "no rows"),
    ("no_smiles_column", "no SMILES column"),
    ("all_invalid", "no usable molecules"),
    ("nan_labels", "no usable molecules"),
    ("bad_parquet", "unreadable parquet"),
])
def test_data_bad_input(runner, tmp_path, case, needle):
    paths = _bad_files(tmp_path)
    source = str(tmp_path / "does_not_exist.csv") if case == "missing" else str(paths[case])
    out = tmp_path / "out.parquet"
    result = invoke(runner, ["data", source, "-o", str(out)])
    assert_one_line_error(result, needle)
    assert not out.exists()


def test_data_missing_named_column(runner, tmp_path, small_csv):
    result = invoke(runner, ["data", str(small_csv), "--label-col", "pIC50", "-o", str(tmp_path / "o.parquet")])
    assert_one_line_error(result, "'pIC50' not found")


@pytest.mark.parametrize("args,needle", [
    (["--strategy", "alphabetical"], "unknown split strategy"),
    (["--frac", "0.8", "0.1", "0.2"], "sum to 1"),
])
def test_split_bad_options(runner, tmp_path, small_csv, args, needle):
    mols = tmp_path / "m.parquet"
    invoke(runner, ["data", str(small_csv), "-o", str(mols)])
    result = invoke(runner, ["split", str(mols), "-o", str(tmp_path / "s.parquet"), *args])
    assert_one_line_error(result, needle)


@pytest.mark.parametrize("case", ["missing", "bad_parquet", "empty"])
def test_split_and_audit_bad_files(runner, tmp_path, small_csv, case):
    paths = _bad_files(tmp_path)
    bad = str(tmp_path / "nope.parquet") if case == "missing" else str(paths[case])
    assert_one_line_error(invoke(runner, ["split", bad, "-o", str(tmp_path / "s.parquet")]))
    assert_one_line_error(invoke(runner, ["audit", bad, str(small_csv), "-o", str(tmp_path / "a.parquet")]))
    assert_one_line_error(invoke(runner, ["audit", str(small_csv), bad, "-o", str(tmp_path / "a.parquet")]))


def test_unknown_dedupe_mode(runner, tmp_path, small_csv):
    result = invoke(runner, ["data", str(small_csv), "--dedupe", "max", "-o", str(tmp_path / "o.parquet")])
    assert_one_line_error(result, "unknown --dedupe")


# --- pipes, entry points, help ------------------------------------------------------------------------------

def test_tables_roundtrip_through_stdin_and_stdout(tmp_path):
    """`molpeft data lipophilicity -o - | molpeft split - --strategy scaffold -o split.parquet`"""
    out = tmp_path / "split.parquet"
    cmd = (f"{sys.executable} -m molpeft_cli data lipophilicity -o - | "
           f"{sys.executable} -m molpeft_cli split - --strategy scaffold -o {out}")
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    split = pl.read_parquet(out)
    assert split.height == 4200 and set(split["split"].unique().to_list()) == {"train", "valid", "test"}


def test_help_imports_no_heavy_library():
    code = ("import sys; from typer.testing import CliRunner; from molpeft_cli.cli.app import app; "
            "from typer.main import get_command; r = CliRunner(); "
            "[r.invoke(app, [c, '--help']) for c in ['--help', *get_command(app).commands]]; "
            "heavy = [m for m in ('torch', 'deepchem', 'transformers', 'rdkit', 'polars') if m in sys.modules]; "
            "print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_every_command_answers_help(runner):
    from typer.main import get_command

    from molpeft_cli.cli.app import app

    for name in get_command(app).commands:
        result = invoke(runner, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, name


def test_deepchem_noise_stays_hidden(tmp_path, small_csv):
    proc = subprocess.run([sys.executable, "-m", "molpeft_cli", "data", str(small_csv), "-o", "-"],
                          capture_output=True, timeout=120)
    split = subprocess.run([sys.executable, "-m", "molpeft_cli", "-q", "split", "-", "-o", str(tmp_path / "s.pq")],
                           input=proc.stdout, capture_output=True, timeout=300)
    stderr = split.stderr.decode()
    assert split.returncode == 0, stderr
    assert stderr.strip() == "", stderr
