"""SMILES corpora for masked-LM training: a molecule table (only the chosen splits) or a plain SMILES file (one per
line, optionally gzipped, optionally with a `smiles` header), and the seeded held-out part used for early stopping."""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from molpeft_cli.errors import MolpeftError

PLAIN_SUFFIXES = (".smi", ".smiles", ".txt")
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")
HEADER_NAMES = ("smiles", "canonical_smiles", "smiles_canonical", "smi")


@dataclass
class Corpus:
    """The SMILES to train on, where they came from, and what was left out."""

    smiles: list[str]
    source: str
    kind: str  # "table" or "smiles file"
    rows_read: int
    rows_excluded: int = 0
    note: str = ""


def _suffixes(path: Path) -> list[str]:
    return [s.lower() for s in path.suffixes]


def _open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _first_line(path: Path) -> str:
    try:
        with _open_text(path) as fh:
            return fh.readline()
    except (OSError, EOFError) as exc:
        raise MolpeftError(f"cannot read {path}: {exc}") from None


def is_plain_smiles_file(path: Path) -> bool:
    """Plain SMILES: a .smi/.smiles/.txt name (gz allowed), or a text file whose first line has no comma or tab
    (a one-column CSV such as MOSES' train.csv.gz). Parquet files and multi-column CSVs are tables."""
    suffixes = _suffixes(path)
    stem_suffixes = [s for s in suffixes if s != ".gz"]
    last = stem_suffixes[-1] if stem_suffixes else ""
    if last in PLAIN_SUFFIXES:
        return True
    if last in (".parquet", ".pq"):
        return False
    with open(path, "rb") as fh:
        if fh.read(4) == b"PAR1":
            return False
    line = _first_line(path)
    return "," not in line and "\t" not in line


def read_smiles_file(path: Path) -> tuple[list[str], int]:
    """SMILES from a plain file: the first whitespace-separated field of each non-empty line (as in .smi files,
    where a name may follow); a first line that is a column name such as `SMILES` is skipped. Returns (smiles,
    lines read)."""
    smiles: list[str] = []
    lines = 0
    try:
        with _open_text(path) as fh:
            for line in fh:
                lines += 1
                fields = line.split()
                if not fields:
                    continue
                if lines == 1 and fields[0].lower() in HEADER_NAMES:
                    continue
                smiles.append(fields[0])
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise MolpeftError(f"cannot read {path}: {exc}") from None
    return smiles, lines


def load_corpus(source: str, splits: Sequence[str] | None = ("train",),
                columns: Sequence[str] = ("smiles_canonical",)) -> Corpus:
    """The SMILES of `source`. For a molecule table with a `split` column, only rows in `splits` (valid/test rows
    never reach training; None takes all rows); `columns` picks which SMILES column(s) to take (their strings, in
    order, deduplicated)."""
    path = Path(source)
    if source == "-":
        raise MolpeftError("mlm needs a file (stdin is not supported: the corpus is read more than once)")
    if not path.exists():
        raise MolpeftError(f"input file not found: {path}")
    if path.is_dir():
        raise MolpeftError(f"input is a directory, expected a molecule table or a SMILES file: {path}")
    if is_plain_smiles_file(path):
        smiles, lines = read_smiles_file(path)
        corpus = Corpus(smiles, str(path), "smiles file", lines)
    else:
        if ".gz" in _suffixes(path):
            raise MolpeftError(f"{path}: a gzipped table with several columns is not supported; decompress it, or "
                               "give a plain SMILES file (one per line)")
        corpus = _table_corpus(path, splits, columns)
    if not corpus.smiles:
        raise MolpeftError(f"no SMILES in {path}{' ' + corpus.note if corpus.note else ''}")
    return corpus


def _table_corpus(path: Path, splits: Sequence[str] | None, columns: Sequence[str]) -> Corpus:
    from molpeft_cli.cli.common import load_molecules
    from molpeft_cli.console import warn

    table = load_molecules(str(path), "input", unlabeled=True)
    rows = table.height
    note = ""
    if splits is None:
        pass
    elif "split" in table.columns:
        unknown = sorted(set(splits) - {"train", "valid", "test"})
        if unknown:
            raise MolpeftError(f"unknown split(s) {', '.join(unknown)}; choose from train, valid, test")
        table = table.filter(table["split"].is_in(list(splits)))
        note = f"(in split(s) {', '.join(splits)})"
    elif tuple(splits) != ("train",):
        warn(f"{path} has no split column: --splits is ignored and all {rows} molecules are used")
    picked = [c for c in columns if c in table.columns] or ["smiles"]
    smiles = list(dict.fromkeys(s for c in picked for s in table[c].drop_nulls().to_list() if s))
    return Corpus(smiles, str(path), "table", rows, rows - table.height, note)


def holdout_split(n: int, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions: a seeded choice of round(holdout * n) molecules (holdout < 1) or of
    int(holdout) molecules (holdout >= 1), at least one molecule always left for training."""
    if holdout < 0:
        raise MolpeftError("--holdout must be >= 0")
    count = int(holdout) if holdout >= 1 else round(holdout * n)
    count = min(count, n - 1)
    if holdout > 0 and count == 0 and n >= 2:
        count = 1
    order = list(range(n))
    random.Random(f"holdout-{seed}").shuffle(order)
    held = sorted(order[:count])
    train = sorted(order[count:])
    return train, held
