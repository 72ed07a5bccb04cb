"""tools/device/gpu_figures.py runs end to end on the CPU (smallest sizes, tiny model) in an interpreter where polars,
RDKit, DeepChem and platformdirs cannot be imported, as on the GPU machine that lacks them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

ABSENT_ON_GPU_MACHINE = ("polars", "rdkit", "deepchem", "platformdirs")


def test_runs_without_polars_rdkit_deepchem_platformdirs(tmp_path):
    out = tmp_path / "figures"
    args = [str(out), "--smoke", "--size", "tiny", "--device", "cpu", "--threads", "1"]
    code = (f"import sys; [sys.modules.__setitem__(m, None) for m in {ABSENT_ON_GPU_MACHINE!r}]\n"
            "sys.path.insert(0, 'tools/device'); import gpu_figures; gpu_figures.import_dependencies()\n"
            f"sys.exit(gpu_figures.main({args!r}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((out / "figures.json").read_text())
    rows = {(r["measure"], r["method"]): r for r in run["results"]}
    assert set(rows) == {("finetune", m) for m in ("full", "bitfit", "lora", "ia3")} | {
        ("mcdropout", "fp32"), ("mcdropout", "bf16"), ("influence", "lora-trainable"), ("torchrun", "ddp-2")}
    assert all(r["value"] > 0 for r in rows.values()), [r for r in rows.values() if not r.get("value")]
    counts = [rows["finetune", m]["trainable_params"] for m in ("ia3", "bitfit", "lora", "full")]
    assert counts == sorted(counts) and counts[-1] == rows["finetune", "full"]["total_params"]
    assert rows["mcdropout", "fp32"]["spread_nonzero"] and rows["influence", "lora-trainable"]["scores_finite"]
    assert rows["torchrun", "ddp-2"]["world_size"] == 2 and rows["torchrun", "ddp-2"]["backend"] == "gloo"
    assert run["environment"]["device"] == "cpu" and run["budget"] == "smoke"
    table = (out / "figures.md").read_text()
    assert table.count("\n| finetune |") == 4 and "| torchrun |" in table

    # --compare puts another run alongside with the ratio per row (here the run itself: every ratio is 1.0x)
    sys.path.insert(0, str(REPO / "tools" / "device"))
    try:
        import gpu_figures
    finally:
        sys.path.pop(0)
    compared = [line for line in gpu_figures.render_markdown(run, run).splitlines() if line.startswith("| ")]
    assert len(compared) == len(rows) + 1 and all(line.endswith("| 1.0x |") for line in compared[1:])
    # a measurement that failed (main records it and goes on with the others) shows as failed, with no ratio
    broken = {**run, "results": [{"measure": "influence", "method": "error", "setting": "failed: RuntimeError",
                                  "value": None, "unit": "", "higher_is_better": True}]}
    assert "| influence | failed: RuntimeError | failed | – | – |" in gpu_figures.render_markdown(broken, run)
