"""Build the pretraining corpus of the bundled `molformer-mini` (continued pretraining, issue 13).

Sources (each a PyPI wheel that ships its molecules; read out of the wheel, nothing installed):
- MOSES training set, `molsets==0.3.1` (MIT): moses/dataset/data/train.csv.gz, 1,584,663 SMILES (ZINC clean leads).
- MoleculeACE 3.0.0 (MIT): the SMILES of its 30 ChEMBL benchmark CSVs (drug-like, the target's chemistry).

Rules: a molecule that is the same compound as any molecule of the benchmark (Lipophilicity, all 4200 molecules;
and every `--exclude` table, e.g. an external pool) is dropped, by InChIKey and again by the stereo-free InChIKey
skeleton; so are SMILES RDKit cannot parse, SMILES with tokens outside the bundled vocabulary, and SMILES longer
than the model's positions. The whole benchmark is excluded (not only valid/test), because `run` carves its pool
and splits after carving, so any Lipophilicity molecule may land in a study's test split.

To keep the InChIKey check affordable on 1.6M molecules, a candidate is first matched on its heavy-atom element
counts (the same compound always has the same ones); only candidates that match any excluded molecule get an
InChIKey. Each kept molecule gets the RDKit descriptors of the auxiliary objective (float16 in the output).

Writes to OUT (a directory): corpus.smi.gz (one SMILES per line, sources in order, duplicates removed),
descriptors.npz (`rows`: positions in corpus.smi.gz that have descriptor targets, `values`: float16, columns =
chem.descriptors.DESCRIPTORS; every MoleculeACE molecule and a seeded sample of MOSES ones) and
corpus.json (counts per source and per reason, licenses, sha256s).

Usage: python tools/build_pretraining_corpus.py OUT [--workers 2] [--exclude TABLE ...] [--moses-limit N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import multiprocessing
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WHEELS = {
    "moses": ("molsets==0.3.1", "molsets-0.3.1-py3-none-any.whl", "MIT"),
    "moleculeace": ("MoleculeACE==3.0.0", "MoleculeACE-3.0.0-py3-none-any.whl", "MIT"),
}
CHUNK = 5000

_state: dict = {}


def fetch_wheel(key: str, cache: Path) -> Path:
    spec, name, _ = WHEELS[key]
    path = cache / name
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", str(cache)],
                       check=True)
    return path


def moses_smiles(cache: Path) -> list[str]:
    """MOSES train SMILES: from `moses_train.csv.gz` in the cache (the file as the wheel ships it), else out of the
    wheel (downloaded when missing)."""
    extracted = cache / "moses_train.csv.gz"
    if extracted.is_file():
        raw = extracted.read_bytes()
    else:
        raw = zipfile.ZipFile(fetch_wheel("moses", cache)).read("moses/dataset/data/train.csv.gz")
    lines = gzip.decompress(raw).decode().splitlines()
    return [line.strip() for line in lines[1:] if line.strip()]


def ace_smiles(wheel: Path) -> list[str]:
    archive = zipfile.ZipFile(wheel)
    found: list[str] = []
    for name in sorted(archive.namelist()):
        if name.endswith(".csv") and "/benchmark_data/" in name:
            rows = csv.DictReader(io.StringIO(archive.read(name).decode()))
            found += [row["smiles"].strip() for row in rows if row.get("smiles")]
    return list(dict.fromkeys(found))


TOKEN_ELEMENT = re.compile(r"^\[\d*([A-Z][a-z]?|[a-z]{1,2})")


def heavy_key(mol) -> str:
    """Heavy-atom element counts of an RDKit molecule, e.g. 'C12,N2,O1'."""
    counts = Counter(atom.GetSymbol() for atom in mol.GetAtoms() if atom.GetAtomicNum() != 1)
    return ",".join(f"{k}{v}" for k, v in sorted(counts.items()))


def token_heavy_key(tokens: list[str]) -> str:
    """The same key read off the SMILES tokens (aromatic lower case as the element; bracket atoms by their element;
    hydrogens left out), so that RDKit parses only the molecules whose key matches an excluded one."""
    counts: Counter = Counter()
    for token in tokens:
        if token[0] == "[":
            match = TOKEN_ELEMENT.match(token)
            if not match:
                continue
            symbol = match.group(1)
            symbol = symbol[0].upper() + symbol[1:] if symbol.islower() else symbol
        elif token[0].isalpha():
            symbol = token[0].upper() + token[1:]
        else:
            continue
        if symbol != "H":
            counts[symbol] += 1
    return ",".join(f"{k}{v}" for k, v in sorted(counts.items()))


def exclusion_keys(smiles: list[str]) -> tuple[set[str], set[str], set[str]]:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    heavy, keys, skeletons = set(), set(), set()
    for s in smiles:
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        heavy.add(heavy_key(mol))
        key = Chem.MolToInchiKey(mol)
        if key:
            keys.add(key)
            skeletons.add(key.split("-")[0])
    return heavy, keys, skeletons


def _init(heavy: set[str], keys: set[str], skeletons: set[str], vocab_dir: str) -> None:
    from rdkit import RDLogger

    from molpeft_cli.model.loading import load_tokenizer

    RDLogger.DisableLog("rdApp.*")
    _state.update(heavy=heavy, keys=keys, skeletons=skeletons, tokenizer=load_tokenizer(vocab_dir))


def _check(chunk: list[str]) -> list[str]:
    """The reason to drop each SMILES ('' = kept)."""
    from rdkit import Chem

    from molpeft_cli.model.tokenizer import UNMATCHED, split_smiles

    tokenizer = _state["tokenizer"]
    vocab = tokenizer.get_vocab()
    limit = tokenizer.model_max_length
    reasons: list[str] = []
    for s in chunk:
        tokens = split_smiles(s)
        if any(t == UNMATCHED or t not in vocab for t in tokens):
            reasons.append("token outside the vocabulary")
            continue
        if len(tokens) + 2 > limit:
            reasons.append(f"longer than {limit} positions")
            continue
        if token_heavy_key(tokens) in _state["heavy"]:
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                reasons.append("unparsable")
                continue
            key = Chem.MolToInchiKey(mol)
            if key in _state["keys"]:
                reasons.append("benchmark compound (same InChIKey)")
                continue
            if key and key.split("-")[0] in _state["skeletons"]:
                reasons.append("benchmark compound (same stereo-free skeleton)")
                continue
        reasons.append("")
    return reasons


def _descriptors(chunk: list[str]) -> np.ndarray:
    from molpeft_cli.chem.descriptors import descriptor_row

    return np.asarray([descriptor_row(s) for s in chunk], dtype=np.float32)


def read_table_smiles(path: Path) -> list[str]:
    """The SMILES column of a CSV or Parquet table (csv/pyarrow only: GPU machines may lack polars)."""
    if path.suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        column = next(c for c in table.column_names if c.lower() in ("smiles", "smiles_canonical"))
        return [s for s in table.column(column).to_pylist() if s]
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    column = next(c for c in rows[0] if c.lower() in ("smiles", "smiles_canonical"))
    return [row[column] for row in rows if row[column]]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=ROOT / "artifacts" / "corpus")
    parser.add_argument("--exclude", type=Path, action="append", default=[],
                        help="More tables whose molecules must not be pretrained on (e.g. an external pool).")
    parser.add_argument("--descriptor-moses", type=int, default=250_000,
                        help="MOSES molecules (a seeded sample) that get descriptor targets; all MoleculeACE ones do.")
    parser.add_argument("--moses-limit", type=int, default=None, help="Take only the first N MOSES SMILES.")
    args = parser.parse_args()
    started = time.monotonic()

    from molpeft_cli.chem.descriptors import DESCRIPTORS

    benchmark = ROOT / "molpeft_cli" / "assets" / "lipophilicity.csv"
    excluded_smiles = read_table_smiles(benchmark)
    excluded_sources = {str(benchmark.relative_to(ROOT)): len(excluded_smiles)}
    for path in args.exclude:
        found = read_table_smiles(path)
        excluded_sources[path.name] = len(found)
        excluded_smiles += found
    heavy, keys, skeletons = exclusion_keys(excluded_smiles)

    sources = {
        "moses": moses_smiles(args.cache),
        "moleculeace": ace_smiles(fetch_wheel("moleculeace", args.cache)),
    }
    if args.moses_limit:
        sources["moses"] = sources["moses"][: args.moses_limit]
    seen: set[str] = set()
    order: list[tuple[str, str]] = []
    duplicates = Counter()
    for name, smiles in sources.items():
        for s in smiles:
            if s in seen:
                duplicates[name] += 1
                continue
            seen.add(s)
            order.append((name, s))
    all_smiles = [s for _, s in order]
    chunks = [all_smiles[i : i + CHUNK] for i in range(0, len(all_smiles), CHUNK)]
    init_args = (heavy, keys, skeletons, str(ROOT / "molpeft_cli" / "assets" / "molformer-mini"))
    reasons: list[str] = []
    with multiprocessing.get_context("spawn").Pool(args.workers, _init, init_args) as pool:
        for chunk_reasons in pool.imap(_check, chunks):
            reasons += chunk_reasons
        print(f"{len(all_smiles):,} checked, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        keep = np.array([r == "" for r in reasons])
        kept = [s for s, k in zip(all_smiles, keep, strict=True) if k]
        kept_source = [name for (name, _), k in zip(order, keep, strict=True) if k]
        # descriptor targets: every MoleculeACE molecule and a seeded sample of the MOSES ones
        rng = np.random.default_rng(0)
        moses_rows = np.array([i for i, name in enumerate(kept_source) if name == "moses"], dtype=np.int64)
        sample = rng.choice(moses_rows, size=min(args.descriptor_moses, len(moses_rows)), replace=False)
        rows = np.sort(np.concatenate([np.array([i for i, n in enumerate(kept_source) if n != "moses"],
                                                dtype=np.int64), sample]))
        wanted = [kept[i] for i in rows]
        parts = []
        for n, part in enumerate(pool.imap(_descriptors, [wanted[i : i + CHUNK] for i in
                                                          range(0, len(wanted), CHUNK)]), 1):
            parts.append(part)
            if n % 10 == 0:
                print(f"descriptors {n * CHUNK:,}/{len(wanted):,}, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
    values = np.concatenate(parts) if parts else np.zeros((0, len(DESCRIPTORS)), dtype=np.float32)
    counts: dict[str, dict[str, int]] = {}
    for (name, _), reason in zip(order, reasons, strict=True):
        counts.setdefault(name, Counter())[reason or "kept"] += 1
    args.out.mkdir(parents=True, exist_ok=True)
    text = ("\n".join(kept) + "\n").encode()
    # mtime=0: gzip's header otherwise stamps the write time, and the same corpus would hash differently per build
    with open(args.out / "corpus.smi.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:
        fh.write(text)
    np.savez_compressed(args.out / "descriptors.npz", rows=rows.astype(np.int32), values=values.astype(np.float16))
    summary = {
        "sources": {name: {"wheel": WHEELS[name][0], "license": WHEELS[name][2],
                           "wheel_sha256": sha256(args.cache / WHEELS[name][1])
                           if (args.cache / WHEELS[name][1]).is_file() else None,
                           "smiles_read": len(sources[name]), "duplicates_of_earlier": duplicates[name],
                           **dict(counts.get(name, {}))} for name in sources},
        "excluded_tables": excluded_sources,
        "excluded_molecules_parsed": len(keys),
        "kept": int(keep.sum()),
        "descriptors": list(DESCRIPTORS),
        "descriptor_rows": int(len(rows)),
        "descriptor_rows_unparsable": int(np.isnan(values).all(axis=1).sum()) if len(values) else 0,
        "corpus_sha256": sha256(args.out / "corpus.smi.gz"),
        "corpus_text_sha256": hashlib.sha256(text).hexdigest(),  # of the SMILES lines, whatever the compression
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "corpus.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
