"""SMILES corpora for masked-LM training: a molecule table (only the chosen splits) or a plain SMILES file (one per
line, optionally gzipped, optionally with a `smiles` header), and the seeded held-out part used for early stopping."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from molpeft_cli.data.smiles_files import is_plain_smiles_file, read_smiles_file
from molpeft_cli.errors import MolpeftError, SettingError

log = logging.getLogger(__name__)


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
    from molpeft_cli.data.loading import load_molecules

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
        log.warning(SettingError("splits", f"{path} has no split column: {{setting}} is ignored and all {rows} "
                                 "molecules are used"))
    picked = [c for c in columns if c in table.columns] or ["smiles"]
    smiles = list(dict.fromkeys(s for c in picked for s in table[c].drop_nulls().to_list() if s))
    return Corpus(smiles, str(path), "table", rows, rows - table.height, note)


def holdout_split(n: int, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, held-out) positions: a seeded choice of round(holdout * n) molecules (holdout < 1) or of
    int(holdout) molecules (holdout >= 1), at least one molecule always left for training."""
    if holdout < 0:
        raise SettingError("holdout", "{setting} must be >= 0")
    count = int(holdout) if holdout >= 1 else round(holdout * n)
    count = min(count, n - 1)
    if holdout > 0 and count == 0 and n >= 2:
        count = 1
    order = list(range(n))
    random.Random(f"holdout-{seed}").shuffle(order)
    held = sorted(order[:count])
    train = sorted(order[count:])
    return train, held
