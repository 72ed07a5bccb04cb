"""Derive a corpus-mix variant from the pretraining corpus (issue 13's corpus ablation).

The built corpus (`tools/build_pretraining_corpus.py`) holds its sources in order, MOSES first, then MoleculeACE
(ChEMBL), with their kept counts in corpus.json. A variant keeps the same molecules and descriptor targets, only
in another mix:

- `--only moses` (or `moleculeace`): one source alone.
- `--chembl-fraction F --seed S`: every MoleculeACE molecule, plus a seeded uniform sample of MOSES molecules so
  that MoleculeACE makes F of the corpus (F=0.2: 35,085 ChEMBL + 140,340 MOSES). No molecule is repeated, so the
  held-out molecules of masked-LM training stay unseen. The sample draws `default_rng(S).choice` over the MOSES
  lines, as the builder drew its 250,000 MOSES molecules with descriptor targets with seed 0; so with seed 0 (what
  the recorded ablation used) the sample is a subset of those and every molecule of the variant has descriptor
  targets, against 17.6% in the built corpus. Any other seed samples independently of them.

Writes OUT/corpus.smi.gz, OUT/descriptors.npz (rows renumbered to the new order) and OUT/corpus.json (counts per
source, the parent corpus' sha256s, the rule). CORPUS may hold corpus.smi.gz or corpus.smi.xz (smaller to carry).

Usage: python tools/corpus_variant.py CORPUS_DIR OUT_DIR (--only SOURCE | --chembl-fraction F [--seed S])
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import lzma
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from molpeft_cli.data.atomic import atomic_path  # noqa: E402


def read_lines(corpus_dir: Path) -> list[str]:
    for name, opener in (("corpus.smi.gz", gzip.open), ("corpus.smi.xz", lzma.open)):
        if (corpus_dir / name).is_file():
            with opener(corpus_dir / name, "rt") as handle:
                return handle.read().splitlines()
    raise SystemExit(f"error: {corpus_dir} has neither corpus.smi.gz nor corpus.smi.xz")


def source_ranges(info: dict, total: int) -> dict[str, range]:
    """Line ranges of each source, from corpus.json's kept counts (sources in build order)."""
    ranges, start = {}, 0
    for name, counts in info["sources"].items():
        ranges[name] = range(start, start + int(counts["kept"]))
        start += int(counts["kept"])
    if start != total:
        raise SystemExit(f"error: corpus.json's sources keep {start:,} molecules but the corpus has {total:,} lines")
    return ranges


def choose_rows(ranges: dict[str, range], only: str | None, chembl_fraction: float | None, seed: int) -> np.ndarray:
    if only is not None:
        if only not in ranges:
            raise SystemExit(f"error: no source {only!r} in corpus.json (sources: {', '.join(ranges)})")
        return np.arange(ranges[only].start, ranges[only].stop)
    if chembl_fraction is None or not 0 < chembl_fraction < 1:
        raise SystemExit("error: give --only SOURCE or --chembl-fraction F with 0 < F < 1")
    chembl, moses = ranges["moleculeace"], ranges["moses"]
    wanted = round(len(chembl) * (1 - chembl_fraction) / chembl_fraction)
    if wanted > len(moses):
        raise SystemExit(f"error: --chembl-fraction {chembl_fraction} needs {wanted:,} MOSES molecules; "
                         f"the corpus has {len(moses):,}")
    picked = np.sort(np.random.default_rng(seed).choice(len(moses), size=wanted, replace=False)) + moses.start
    return np.concatenate([picked, np.arange(chembl.start, chembl.stop)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", default=None, help="Keep one source alone (moses or moleculeace).")
    parser.add_argument("--chembl-fraction", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.only is None) == (args.chembl_fraction is None):
        parser.error("give exactly one of --only and --chembl-fraction")
    info = json.loads((args.corpus / "corpus.json").read_text())
    lines = read_lines(args.corpus)
    ranges = source_ranges(info, len(lines))
    rows = choose_rows(ranges, args.only, args.chembl_fraction, args.seed)
    packed = np.load(args.corpus / "descriptors.npz")
    new_position = np.full(len(lines), -1, dtype=np.int64)
    new_position[rows] = np.arange(len(rows))
    moved = new_position[packed["rows"]]  # each descriptor row's place in the variant, -1 where it is left out
    order = np.argsort(moved)[np.count_nonzero(moved < 0):]
    desc_rows = moved[order].astype(np.int32)
    desc_values = packed["values"][order]

    text = ("\n".join(lines[i] for i in rows) + "\n").encode()
    with atomic_path(args.out / "corpus.smi.gz") as tmp:
        tmp.write_bytes(gzip.compress(text, compresslevel=6, mtime=0))
    with atomic_path(args.out / "descriptors.npz") as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, rows=desc_rows, values=desc_values)
    counts = {name: int(((rows >= r.start) & (rows < r.stop)).sum()) for name, r in ranges.items()}
    summary = {
        "parent": {"corpus_sha256": info.get("corpus_sha256"), "corpus_text_sha256": info.get("corpus_text_sha256"),
                   "kept": len(lines)},
        "rule": {"only": args.only} if args.only else {"chembl_fraction": args.chembl_fraction, "seed": args.seed},
        "kept": len(rows),
        "sources": {name: {"wheel": info["sources"][name].get("wheel"), "license": info["sources"][name].get("license"),
                            "kept": count} for name, count in counts.items() if count},
        "descriptor_rows": len(desc_rows),
        "corpus_text_sha256": hashlib.sha256(text).hexdigest(),
    }
    with atomic_path(args.out / "corpus.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{args.out}: {len(rows):,} molecules ({', '.join(f'{n} {c:,}' for n, c in counts.items())}), "
          f"{len(desc_rows):,} with descriptors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
