"""tools/publish_study.sh: a finished study's report and tables are copied, checkpoints are not, a stale report is
refused."""

import os
import subprocess
from pathlib import Path

from molpeft_cli.report import build_report
from tests.report.conftest import FAST
from tests.report.run_factory import make_run_dir

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "publish_study.sh"


def _publish(run: Path, dest: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(run), str(dest)], capture_output=True, text=True)


def test_publish_copies_the_report_and_refuses_a_stale_one(tmp_path):
    run = make_run_dir(tmp_path / "run", seeds=(0, 1))
    (run / "cells" / "two-stage-full-none-s0").mkdir(parents=True)
    (run / "cells" / "two-stage-full-none-s0" / "model.safetensors").write_bytes(b"weights")
    refused = _publish(run, tmp_path / "published")
    assert refused.returncode == 1 and "report.md is missing" in refused.stderr

    build_report(run, run / "report", FAST)
    done = _publish(run, tmp_path / "results" / "study")
    assert done.returncode == 0, done.stderr
    names = {p.name for p in (tmp_path / "results" / "study").iterdir()}
    assert {"report.md", "headline.md", "report.html", "cells.parquet", "differences.parquet", "ratios.parquet",
            "summary.parquet", "report.manifest.json", "run.json", "figures"} <= names
    assert not list((tmp_path / "results").rglob("*.safetensors"))
    (tmp_path / "results" / "study" / "README.md").write_text("how this run was made\n")
    again = _publish(run, tmp_path / "results" / "study")
    assert again.returncode == 0 and (tmp_path / "results" / "study" / "README.md").read_text() == \
        "how this run was made\n"

    metrics = next((run / "eval").glob("*.metrics.parquet"))
    later = (run / "report" / "manifest.json").stat().st_mtime + 10
    os.utime(metrics, (later, later))
    stale = _publish(run, tmp_path / "results" / "study")
    assert stale.returncode == 1 and "newer than the report" in stale.stderr
    assert (tmp_path / "results" / "study" / "report.md").exists()  # the earlier copy is kept
