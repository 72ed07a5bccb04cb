"""The library pieces behind the bad-input corpus: output policy, stale temporaries, directory locks, table
validation and table reading (separators, gzip, HTML)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import polars as pl
import pytest

from molpeft_cli.data.atomic import atomic_dir, clean_stale_temporaries, stale_temporaries
from molpeft_cli.data.lock import LockedError, directory_lock
from molpeft_cli.data.outputs import Output, OutputError, check_outputs
from molpeft_cli.data.tables import read_table
from molpeft_cli.data.validate import TableError, validate_table


def _manifest(folder, command):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps({"command": command}))


def test_output_equal_to_an_input_is_refused(tmp_path):
    source = tmp_path / "a.csv"
    source.write_text("x")
    with pytest.raises(OutputError, match="output .* is also the input source"):
        check_outputs("data", {"output": str(source)}, {"source": str(source)})
    os.link(source, tmp_path / "hard.csv")  # another name for the same file
    with pytest.raises(OutputError, match="is also the input"):
        check_outputs("data", {"output": str(tmp_path / "hard.csv")}, {"source": [str(source)]})


def test_two_outputs_on_one_path_are_refused(tmp_path):
    with pytest.raises(OutputError, match="output and pool name the same path") as caught:
        check_outputs("carve", {"output": str(tmp_path / "p"), "pool": str(tmp_path / "p")})
    flags = {"output": "--output", "pool": "--pool"}
    assert caught.value.render(flags.get).startswith("--output and --pool name the same path")


def test_directory_policy(tmp_path):
    split = tmp_path / "split.parquet"
    split.write_text("x")
    own, other, foreign, empty = tmp_path / "own", tmp_path / "other", tmp_path / "foreign", tmp_path / "empty"
    _manifest(own, "finetune")
    _manifest(other, "mlm")
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    empty.mkdir()
    inputs = {"split_table": str(split)}
    assert check_outputs("finetune", {"output": Output(own, directory=True)}, inputs) == []
    assert check_outputs("finetune", {"output": Output(empty, directory=True)}, inputs) == []
    with pytest.raises(OutputError, match="holds the output of `molpeft mlm`"):
        check_outputs("finetune", {"output": Output(other, directory=True)}, inputs)
    with pytest.raises(OutputError, match="holds no molpeft manifest.*with overwrite"):
        check_outputs("finetune", {"output": Output(foreign, directory=True)}, inputs)
    assert check_outputs("finetune", {"output": Output(foreign, directory=True)}, inputs, overwrite=True) == ["output"]
    with pytest.raises(OutputError, match="holds the input split_table"):
        check_outputs("finetune", {"output": Output(tmp_path, directory=True)}, inputs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_outputs("finetune", {"output": Output(tmp_path / "file", directory=True)})
    with pytest.raises(OutputError, match="is a folder"):
        check_outputs("data", {"output": str(foreign)})


def test_current_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (".", "..", str(tmp_path)):
        with pytest.raises(OutputError, match="current folder"):
            check_outputs("mlm", {"output": Output(path, directory=True)})


def test_unwritable_destination_is_refused_before_work(tmp_path, monkeypatch):
    import errno
    import tempfile

    def refuse(*args, **kwargs):  # what a read-only mount (or a folder without write permission) answers
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="output .* cannot be written: Read-only file system in"):
        check_outputs("finetune", {"output": Output(tmp_path / "new" / "ck", directory=True)})
    assert not (tmp_path / "new").exists()


def test_stale_temporaries_of_dead_processes_are_cleaned(tmp_path):
    final = tmp_path / "ck"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".ck.~{dead_pid}.abcd1234.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    live = tmp_path / f".ck.~{os.getpid()}.efgh5678.tmp"
    live.mkdir()
    unrelated = tmp_path / ".other.~1.abcd1234.tmp"
    unrelated.mkdir()
    assert stale_temporaries(final) == [stale]
    assert clean_stale_temporaries(final) == [stale]
    assert not stale.exists() and live.exists() and unrelated.exists()
    check_outputs("finetune", {"output": Output(final, directory=True)})  # the policy cleans them too
    with atomic_dir(final) as tmp:
        assert f".ck.~{os.getpid()}." in tmp.name
        (tmp / "a").write_text("1")
    assert (final / "a").read_text() == "1"


def test_directory_lock_refuses_a_second_holder(tmp_path):
    with directory_lock(tmp_path, "run"):
        with pytest.raises(LockedError, match=r"in use by molpeft run \(pid"), directory_lock(tmp_path, "run"):
            pass
    with directory_lock(tmp_path, "run"):  # released
        pass


def _table(**changes):
    base = {"mol_id": ["a", "b", "c"], "smiles": ["CCO", "CCN", "CCC"], "smiles_canonical": ["CCO", "CCN", "CCC"],
            "inchikey": ["K1", "K2", "K3"], "label": [1.0, 2.0, 3.0], "source": ["t"] * 3,
            "split": ["train", "valid", "test"]}
    base.update(changes)
    return pl.DataFrame(base)


@pytest.mark.parametrize("changes,needle", [
    ({"smiles_canonical": ["CCO", "C1CC((", "CCC"]}, "1 invalid SMILES (RDKit cannot parse them): row 2 (b)"),
    ({"smiles_canonical": ["CCO", "", "CCC"]}, "1 empty SMILES: row 2 (b)"),
    ({"label": [1.0, float("inf"), float("nan")]}, "2 non-finite labels (NaN or inf): row 2 (b), row 3 (c)"),
    ({"split": ["train", "Train", "holdout"]}, "rows with a split other than train, valid, test (Train, holdout)"),
    ({"mol_id": ["a", "a", "c"]}, "1 repeated mol_ids: row 2 (a)"),
    ({"label": ["1.0", "x", "2"]}, "1 non-numeric labels: row 2 (b)"),
])
def test_table_validation_names_rows(changes, needle):
    with pytest.raises(TableError) as caught:
        validate_table(_table(**changes), "split table s.parquet")
    assert needle in str(caught.value)


def test_missing_labels_only_where_required():
    table = _table(label=[1.0, None, 3.0])
    assert validate_table(table, "pool").height == 3
    with pytest.raises(TableError, match="1 rows without a label: row 2"):
        validate_table(table, "split", labels_required=True)


def test_plain_csv_with_split_column_keeps_its_split(tmp_path):
    from molpeft_cli.data.molecules import build_molecule_table

    raw = pl.DataFrame({"smiles": ["CCO", "CCN", "c1ccccc1", "CCCl"], "label": ["1", "2", "3", "4"],
                        "split": ["train", "valid", "test", "nope"]})
    result = build_molecule_table(raw, source="s")
    assert result.molecules["split"].to_list() == ["train", "valid", "test"]
    assert result.rejects["reason"].to_list() == ["unknown split 'nope' (not train, valid, test)"]
    crossing = pl.DataFrame({"smiles": ["CCO", "OCC"], "label": ["1", "2"], "split": ["train", "test"]})
    with pytest.raises(Exception, match="more than one split"):
        build_molecule_table(crossing, source="s")


@pytest.mark.parametrize("text,separator", [("smiles;label\nCCO;1\n", ";"), ("smiles\tlabel\nCCO\t1\n", "\t")])
def test_other_separators_are_read(tmp_path, text, separator):
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert read_table(path).columns == ["smiles", "label"]


def test_gzip_and_html_tables(tmp_path):
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(b"smiles,label\nCCO,1\n"))
    assert read_table(gz).height == 1
    html = tmp_path / "t.csv"
    html.write_text("<!DOCTYPE html>\n<html><body>Not found</body></html>\n")
    with pytest.raises(Exception, match="HTML page"):
        read_table(html)
