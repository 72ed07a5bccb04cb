"""tools/device/study_device.py: refuses a run whose data steps are not done, and packs a run without its weights."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools" / "device"))

import study_device  # noqa: E402


def test_refuses_a_run_without_its_data_steps(tmp_path, capsys):
    code = study_device.main([str(tmp_path / "run"), "--profile", "tiny", "--device", "cpu", "--jobs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "data" in err and "split" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "run.json").exists()  # nothing written


def test_pack_leaves_weights_and_optimiser_state_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = tmp_path / "run" / "cells" / "two-stage-full-none-s0"
    (cell / "trainer_state").mkdir(parents=True)
    for name in ("model.safetensors", "finetune.json", "manifest.json", "trainer_state/optimizer.pt"):
        (cell / name).write_text("x")
    (tmp_path / "run" / "eval").mkdir()
    (tmp_path / "run" / "eval" / "a.metrics.parquet").write_text("x")
    assert study_device.pack(Path("run"), tmp_path / "out" / "study.tar.gz") == 3  # names as the manifests give them
    with tarfile.open(tmp_path / "out" / "study.tar.gz") as tar:
        names = sorted(tar.getnames())
    assert names == ["run/cells/two-stage-full-none-s0/finetune.json", "run/cells/two-stage-full-none-s0/manifest.json",
                     "run/eval/a.metrics.parquet"]
