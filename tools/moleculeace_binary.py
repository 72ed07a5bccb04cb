"""A public binary endpoint, offline: one MoleculeACE ChEMBL target (the PyPI wheel MoleculeACE==3.0.0, MIT) as a
CSV of SMILES and active/inactive at a potency threshold (default Ki or EC50 <= 100 nM, i.e. pKi >= 7).

    python tools/moleculeace_binary.py CHEMBL238_Ki -o artifacts/dat_binary.csv [--threshold-nm 100] [--wheel PATH]

The wheel is fetched with `pip download --no-deps` into a cache folder unless `--wheel` names one. The CSV is not
committed (it comes from outside the project); the study's README names this command. The bundled model's
pretraining corpus holds every MoleculeACE molecule unlabelled (tools/build_pretraining_corpus.py), so a study on
these molecules measures adaptation to the labels, not to unseen chemistry.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "MoleculeACE-3.0.0-py3-none-any.whl"
REQUIREMENT = "MoleculeACE==3.0.0"
MEMBER = "MoleculeACE/Data/benchmark_data/{target}.csv"


def fetch_wheel(cache: Path) -> Path:
    wheel = cache / WHEEL
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", REQUIREMENT, "-d", str(cache)],
                       check=True)
    return wheel


def binary_rows(wheel: Path, target: str, threshold_nm: float) -> list[dict[str, str]]:
    """The target's molecules with their potency and `activity` (active when the mean potency <= threshold)."""
    with zipfile.ZipFile(wheel) as archive:
        try:
            handle = archive.open(MEMBER.format(target=target))
        except KeyError:
            names = sorted(Path(n).stem for n in archive.namelist() if n.endswith(".csv") and "benchmark" in n)
            raise SystemExit(f"error: no MoleculeACE target {target}; choose one of {', '.join(names)}") from None
        rows = list(csv.DictReader(io.TextIOWrapper(handle)))
    return [{"smiles": r["smiles"], "potency_nM": r["exp_mean [nM]"],
             "activity": "active" if float(r["exp_mean [nM]"]) <= threshold_nm else "inactive"} for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="MoleculeACE benchmark name, e.g. CHEMBL238_Ki")
    parser.add_argument("-o", "--output", required=True, type=Path)
    parser.add_argument("--threshold-nm", type=float, default=100.0)
    parser.add_argument("--wheel", type=Path, help="MoleculeACE wheel already on disk")
    parser.add_argument("--cache", type=Path, default=Path("artifacts/cache"))
    args = parser.parse_args(argv)
    rows = binary_rows(args.wheel or fetch_wheel(args.cache), args.target, args.threshold_nm)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["smiles", "potency_nM", "activity"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(args.output)
    active = sum(r["activity"] == "active" for r in rows)
    print(f"{args.output}: {len(rows)} molecules of {args.target}, {active} active (<= {args.threshold_nm:g} nM)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
