import io
import json

import polars as pl
import pytest

from molpeft_cli.data.atomic import atomic_dir, atomic_path
from molpeft_cli.data.manifest import build_manifest, manifest_path, sha256_file, write_manifest
from molpeft_cli.data.tables import read_table, write_table
from molpeft_cli.errors import MolpeftError


def test_interrupted_atomic_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_previous_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new, but never finished")
        raise RuntimeError("boom")
    assert target.read_text() == "old"


def test_atomic_dir_replaces_whole_directory(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("2")
        raise RuntimeError
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_table_roundtrip_parquet_and_csv(tmp_path):
    df = pl.DataFrame({"mol_id": ["a", "b"], "label": [1.5, None]})
    write_table(df, tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet").equals(df)
    write_table(df, tmp_path / "t.csv")
    back = read_table(tmp_path / "t.csv")
    assert back["mol_id"].to_list() == ["a", "b"]


def test_read_table_errors(tmp_path):
    with pytest.raises(MolpeftError, match="not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(MolpeftError, match="empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(MolpeftError, match="unreadable parquet"):
        read_table(tmp_path / "bad.parquet")


def test_stdout_writes_parquet_bytes(tmp_path, monkeypatch):
    buffer = io.BytesIO()

    class FakeStdout:
        def __init__(self):
            self.buffer = buffer

    monkeypatch.setattr("sys.stdout", FakeStdout())
    write_table(pl.DataFrame({"x": [1, 2]}), "-")
    assert pl.read_parquet(io.BytesIO(buffer.getvalue()))["x"].to_list() == [1, 2]


def test_manifest_records_inputs_versions_and_times(tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text("smiles\nCCO\n")
    out = tmp_path / "out.parquet"
    out.write_bytes(b"x")
    manifest = build_manifest("data", {"dedupe": "mean"}, 3, {"source": inp}, "2026-01-01T00:00:00+00:00")
    path = write_manifest(out, manifest)
    assert path == manifest_path(out) == tmp_path / "out.parquet.manifest.json"
    saved = json.loads(path.read_text())
    assert saved["seed"] == 3 and saved["params"] == {"dedupe": "mean"}
    assert saved["inputs"]["source"]["sha256"] == sha256_file(inp)
    assert {"python", "polars", "rdkit"} <= set(saved["versions"])
    assert saved["started"] <= saved["ended"]
    assert isinstance(saved["argv"], list)
