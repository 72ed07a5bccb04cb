"""Check that two `molpeft run` directories hold the same numbers: every table (metrics, predictions, selections,
scores, split, pool, audit), every checkpoint's weights and every manifest's parameters, compared exactly (timing
columns and fields aside). Used to show that a change of shape moved no result.

    python tools/same_results.py RUN_A RUN_B      # exit 0 when equal, 1 with a list of differences
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIMING_COLUMNS = {"train_seconds", "seconds", "molecules_per_second"}
# "config" is the resolved step config that the pipeline records (issue 22): provenance, not a result, so a run made
# before it was recorded compares equal to one made after; the numbers it leads to are compared in the tables.
MANIFEST_VOLATILE = {"argv", "started", "ended", "versions", "inputs", "config"}
VOLATILE_KEYS = TIMING_COLUMNS | {"started", "ended", "t0"}
UNORDERED_KEYS = {"target_modules", "feedforward_modules"}  # peft writes these sets in hash order
RUN_DIRS: list[str] = []  # replaced by <RUN> in strings, so runs in different folders compare


def strip(value):
    """A JSON value without timing fields and absolute paths (run directories differ)."""
    if isinstance(value, dict):
        return {k: sorted(strip(v)) if k in UNORDERED_KEYS and isinstance(v, list) else strip(v)
                for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    if isinstance(value, str):
        for prefix in RUN_DIRS:
            value = value.replace(prefix, "<RUN>")
    return value


def compare_tables(a: Path, b: Path) -> list[str]:
    import polars as pl

    left, right = pl.read_parquet(a), pl.read_parquet(b)
    if left.columns != right.columns:
        return [f"{a.name}: columns {left.columns} vs {right.columns}"]
    keep = [c for c in left.columns if c not in TIMING_COLUMNS]
    left, right = (_relative_paths(t.select(keep)) for t in (left, right))
    if not left.equals(right):
        differing = [c for c in keep if not left[c].equals(right[c])]
        return [f"{a.name}: values differ in {', '.join(differing)}"]
    return []


def _relative_paths(table):
    import polars as pl

    for prefix in RUN_DIRS:
        table = table.with_columns(pl.col(pl.String).str.replace_all(prefix, "<RUN>", literal=True))
    return table


def compare_weights(a: Path, b: Path) -> list[str]:
    import torch
    from safetensors.torch import load_file

    left, right = load_file(a), load_file(b)
    if left.keys() != right.keys():
        return [f"{a}: tensor names differ"]
    return [f"{a}: {k} differs" for k in left if not torch.equal(left[k], right[k])]


def compare_manifests(a: Path, b: Path) -> list[str]:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    diffs = []
    for key in sorted(set(left) | set(right)):
        if key in MANIFEST_VOLATILE:
            continue
        lv, rv = strip(left.get(key)), strip(right.get(key))
        if lv != rv:
            diffs.append(f"{a}: manifest field {key!r} differs")
    return diffs


def main(run_a: str, run_b: str) -> int:
    a_dir, b_dir = Path(run_a), Path(run_b)
    RUN_DIRS.extend([str(a_dir.resolve()), str(b_dir.resolve()), str(a_dir), str(b_dir)])
    diffs: list[str] = []
    checked = 0
    for a in sorted(a_dir.rglob("*")):
        if not a.is_file() or "report" in a.relative_to(a_dir).parts:
            continue
        rel = a.relative_to(a_dir)
        b = b_dir / rel
        if not b.exists():
            diffs.append(f"{rel}: missing in {b_dir}")
            continue
        if a.name.endswith(".parquet") and a.name != "training_log.parquet":
            diffs += compare_tables(a, b)
        elif a.name == "training_log.parquet":
            diffs += compare_tables(a, b)
        elif a.suffix == ".safetensors":
            diffs += compare_weights(a, b)
        elif a.name.endswith("manifest.json"):
            diffs += compare_manifests(a, b)
        elif a.suffix == ".json":
            if strip(json.loads(a.read_text())) != strip(json.loads(b.read_text())):
                diffs.append(f"{rel}: differs")
        else:
            continue
        checked += 1
    for d in diffs:
        print(d)
    print(f"{checked} files compared, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
