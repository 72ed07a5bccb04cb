"""Reading SMILES from files, one set of rules for every step: a plain SMILES file (one per line, optionally
gzipped, optionally a header such as `smiles`; the first whitespace-separated field, as in .smi files where a name
may follow: the one format whose SMILES field ends at whitespace), an SD file (read with RDKit, see
`data.tables`), or a CSV/parquet table whose SMILES column is detected (a SMILES with whitespace inside it is
rejected there, never cut)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from molpeft_cli.errors import InputError

PLAIN_SUFFIXES = (".smi", ".smiles", ".txt")
HEADER_NAMES = ("smiles", "canonical_smiles", "smiles_canonical", "smi")
SD_SUFFIXES = (".sdf", ".sd", ".mol")


def is_sd_file(name: str | Path) -> bool:
    """An SD (MDL molfile) file by its name: .sdf, .sd or .mol, optionally gzipped."""
    suffixes = [x.lower() for x in Path(str(name)).suffixes if x.lower() != ".gz"]
    return bool(suffixes) and suffixes[-1] in SD_SUFFIXES


def _suffixes(path: Path) -> list[str]:
    return [s.lower() for s in path.suffixes]


def open_text(path: Path):
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _first_line(path: Path) -> str:
    try:
        with open_text(path) as fh:
            return fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def is_plain_smiles_file(path: Path) -> bool:
    """Plain SMILES: a .smi/.smiles/.txt name (gz allowed), or a text file whose first line has no comma or tab
    (a one-column CSV such as MOSES' train.csv.gz). Parquet files and multi-column CSVs are tables."""
    path = Path(path)
    suffixes = _suffixes(path)
    stem_suffixes = [s for s in suffixes if s != ".gz"]
    last = stem_suffixes[-1] if stem_suffixes else ""
    if last in PLAIN_SUFFIXES:
        return True
    if last in (".parquet", ".pq") or is_sd_file(path):
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
        with open_text(Path(path)) as fh:
            for line in fh:
                lines += 1
                fields = line.split()
                if not fields:
                    continue
                if lines == 1 and fields[0].lower() in HEADER_NAMES:
                    continue
                smiles.append(fields[0])
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    return smiles, lines


def read_smiles(path: str | Path) -> list[str]:
    """The SMILES of a plain SMILES file or of a table's SMILES column, in file order (empty cells as '')."""
    import polars as pl

    from molpeft_cli.data.molecules import SMILES_NAMES, detect_column
    from molpeft_cli.data.tables import read_table

    p = Path(path)
    if p.is_dir():
        raise InputError(f"input {path} is a folder, not a SMILES file or table; give the file inside it")
    if not p.is_file():
        raise InputError(f"input file not found: {path}")
    if is_plain_smiles_file(p):
        return read_smiles_file(p)[0]
    table = read_table(p)
    column = detect_column(table, None, SMILES_NAMES, "SMILES")
    if column is None:
        raise InputError(f"no SMILES column in {path}; columns: {', '.join(table.columns)}")
    return [s if s is not None else "" for s in table[column].cast(pl.String).to_list()]
