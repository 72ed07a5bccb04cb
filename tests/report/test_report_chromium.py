"""Render report.html in headless Chromium (tools/check_report_chromium.sh) and check the page is not blank."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = REPO / "tools" / "check_report_chromium.sh"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium here (as root: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(three_seed_report, tmp_path):
    shot = tmp_path / "report.png"
    result = subprocess.run(["bash", str(SCRIPT), str(three_seed_report), str(shot)], capture_output=True,
                            text=True, timeout=180, env={**os.environ, "CHROMIUM": str(CHROMIUM)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert shot.stat().st_size > 50_000 and "ok:" in result.stdout
    artifacts = REPO / "artifacts" / "report"  # git-ignored: keep the last screenshot for a person to look at
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, artifacts / "report-screenshot.png")
