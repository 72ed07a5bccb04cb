"""What the corpus' refusals lead to when the input is fine or the user says so: a plain smiles,label,split CSV,
over-long molecules cut and reported by default, --overwrite moving a folder aside, truncation flagged in
predictions, other separators, partly labelled eval splits, and small splits warned about."""

from __future__ import annotations

import gzip
import json
import shutil

import polars as pl
from typer.testing import CliRunner

from tests.badinput.conftest import World
from tests.conftest import invoke

FAST = ["--max-epochs", "1", "--batch-size", "16"]


def test_plain_csv_with_a_split_column_fine_tunes(world: World, tmp_path):
    result = invoke(CliRunner(), ["--threads", "1", "finetune", str(world.split_csv), "--model", str(world.base),
                                  *FAST, "-o", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "ck" / "finetune.json").read_text())
    assert meta["n_train"] == 24


def test_over_long_molecule_is_cut_and_reported_by_default(world: World, tmp_path):
    table = world.split_frame()
    long_id = table["mol_id"][0]
    ids = table["smiles_canonical"].to_list()
    ids[0] = "C" * 300
    path = tmp_path / "long.parquet"
    table.with_columns(pl.Series("smiles_canonical", ids)).write_parquet(path)
    result = invoke(CliRunner(), ["--threads", "1", "finetune", str(path), "--model", str(world.base), *FAST,
                                  "-o", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    assert "were cut to fit" in result.stderr and long_id in result.stderr and "--no-truncate" in result.stderr
    meta = json.loads((tmp_path / "ck" / "finetune.json").read_text())
    manifest = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert meta["truncated"] == [long_id] and manifest["result"]["truncated"] == [long_id]
    assert meta["options"]["truncate"] is True


def test_overwrite_replaces_a_foreign_folder_only_when_asked(world: World, tmp_path):
    target = tmp_path / "runs"
    target.mkdir()
    (target / "notes.md").write_text("mine\n")
    args = ["--threads", "1", "finetune", str(world.split), "--model", str(world.base), *FAST, "-o", str(target)]
    assert invoke(CliRunner(), args).exit_code == 2
    assert (target / "notes.md").read_text() == "mine\n"
    result = invoke(CliRunner(), [*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "replaced as asked" in result.stderr
    assert (target / "finetune.json").is_file() and not (target / "notes.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # nothing left aside
    again = invoke(CliRunner(), args)  # now it is a finetune output: replaced without --overwrite
    assert again.exit_code == 0, again.output


def test_predict_flags_truncated_rows_and_reads_gzip(world: World, tmp_path):
    smi = tmp_path / "in.smi.gz"
    smi.write_bytes(gzip.compress(("CCO\n" + "C" * 300 + "\n").encode()))
    out = tmp_path / "p.parquet"
    result = invoke(CliRunner(), ["--threads", "1", "predict", str(world.checkpoint), "-i", str(smi), "--truncate",
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table["truncated"].to_list() == [False, True] and table["prediction"].null_count() == 0
    result = invoke(CliRunner(), ["--threads", "1", "predict", str(world.checkpoint), "-i", str(smi)])
    assert result.exit_code == 0, result.output
    rows = pl.read_csv(result.stdout.encode())
    assert rows["prediction"].null_count() == 1 and "longer than the model" in rows["error"][1]


def test_semicolon_and_tab_files_are_read(tmp_path):
    for name, sep in (("semi.csv", ";"), ("tab.tsv", "\t")):
        path = tmp_path / name
        path.write_text(f"smiles{sep}label\nCCO{sep}1.5\nc1ccccc1{sep}2\n")
        result = invoke(CliRunner(), ["data", str(path), "-o", str(tmp_path / f"{name}.parquet")])
        assert result.exit_code == 0, result.output
        assert pl.read_parquet(tmp_path / f"{name}.parquet")["label"].to_list() == [1.5, 2.0]


def test_eval_of_a_partly_labelled_split_scores_the_labelled_rows(world: World, tmp_path):
    table = world.split_frame()
    labels = table["label"].to_list()
    test_rows = [i for i, s in enumerate(table["split"].to_list()) if s == "test"]
    labels[test_rows[0]] = None
    path = tmp_path / "partly.parquet"
    table.with_columns(pl.Series("label", labels)).write_parquet(path)
    result = invoke(CliRunner(), ["--threads", "1", "eval", str(world.checkpoint), str(path), "-o",
                                  str(tmp_path / "p.parquet")])
    assert result.exit_code == 0, result.output
    assert "have no label" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == len(test_rows) - 1


def test_split_of_five_molecules_warns_about_the_empty_split(tmp_path):
    path = tmp_path / "five.csv"
    path.write_text("smiles,label\nCCO,1\nCCN,2\nc1ccccc1,3\nCCCl,4\nCCCBr,5\n")
    result = invoke(CliRunner(), ["split", str(path), "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert "left valid empty" in result.stderr


def test_finished_mlm_replaces_its_resume_folder(world: World, tmp_path):
    out = tmp_path / "m"
    resume = tmp_path / "m.resume"
    shutil.copytree(world.base, resume)  # a stale save of an earlier, unfinished run
    result = invoke(CliRunner(), ["--threads", "1", "mlm", str(world.split), "-o", str(out), "--model",
                                  str(world.base), "--epochs", "1", "--batch-size", "16"])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file() and (out / "trainer_state" / "state.json").is_file()
    assert not resume.exists()
