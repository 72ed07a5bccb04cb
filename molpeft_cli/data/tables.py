"""Reading and writing tables: Parquet (polars) is the contract, CSV is accepted as input, `-` is stdin/stdout.

SD files (.sdf, .sd, .mol; gzipped too) are read as SD files with RDKit: one row per record, a `smiles` column
written from the molecule (empty where RDKit cannot read the record, so the row is rejected as any empty SMILES
is), the record's title as `name`, and each data field (`> <logD>`) as a column of its own name, so that a label
column is detected or named as in a CSV."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import polars as pl

from molpeft_cli.data.atomic import atomic_path
from molpeft_cli.data.smiles_files import is_sd_file
from molpeft_cli.errors import MolpeftError

STDIO = "-"
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}



def looks_like_html(data: bytes) -> bool:
    """An HTML page (a login or error page saved instead of the data), judged from its first bytes."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))


def _decompress(data: bytes, name: str) -> bytes:
    import gzip
    import zlib

    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise MolpeftError(f"unreadable gzip file {name}: {exc}") from None


def _read_bytes(source: str | Path) -> tuple[bytes, str]:
    if str(source) == STDIO:
        data = sys.stdin.buffer.read()
        return data, "<stdin>"
    path = Path(source)
    if not path.exists():
        raise MolpeftError(f"input file not found: {path}")
    if path.is_dir():
        raise MolpeftError(f"input {path} is a folder, not a table file; give the file inside it")
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise MolpeftError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_table(source: str | Path) -> pl.DataFrame:
    """Read a Parquet or CSV table (detected from its bytes, not its name); `-` reads stdin."""
    data, name = _read_bytes(source)
    if data[:2] == _GZIP_MAGIC:
        data = _decompress(data, name)
    if not data.strip():
        raise MolpeftError(f"input is empty: {name}")
    if is_sd_file(name):
        return _read_sd(data, name)
    if data[:4] == _PARQUET_MAGIC:
        try:
            return pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # polars raises several types for corrupt files
            raise MolpeftError(f"unreadable parquet file {name}: {_first_line(exc)}") from None
    if name.endswith((".parquet", ".pq")):
        raise MolpeftError(f"unreadable parquet file {name}: not a parquet file (bad magic bytes)")
    if looks_like_html(data):
        raise MolpeftError(f"{name} is an HTML page, not a CSV or parquet table")
    if b"\x00" in data[:4096]:
        raise MolpeftError(f"{name} is neither parquet nor text CSV (it holds binary data)")
    separator = _other_separator(_read_csv(data, name, ","))
    if separator is not None:
        logging.getLogger(__name__).debug(f"{name}: {_OTHER_SEPARATORS[separator]}-separated, read as such")
    df = _read_csv(data, name, separator or ",")
    _refuse_repeated_columns(data, name, separator or ",")
    if df.height == 0:
        raise MolpeftError(f"input has a header but no rows: {name}")
    return df


def _read_csv(data: bytes, name: str, separator: str) -> pl.DataFrame:
    try:  # all strings: labels are checked row by row
        return pl.read_csv(io.BytesIO(data), infer_schema_length=0, separator=separator)
    except Exception as exc:
        raise MolpeftError(f"unreadable CSV file {name}: {_first_line(exc)}") from None


def _refuse_repeated_columns(data: bytes, name: str, separator: str) -> None:
    """A header that names a column twice: polars would rename the second copy, and which one holds the data
    meant would be a guess."""
    import csv
    from collections import Counter

    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    header = next(csv.reader([first], delimiter=separator), [])
    repeated = [column for column, n in Counter(c.strip() for c in header).items() if n > 1]
    if repeated:
        raise MolpeftError(f"{name} names a column more than once: {', '.join(repr(c) for c in repeated)}; rename "
                           "or remove the copies")


def _read_sd(data: bytes, name: str) -> pl.DataFrame:
    """An SD file's records as a table: `smiles` (from the molecule), `name` (the title), one column per field."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    if b"M  END" not in data and b"$$$$" not in data:
        raise MolpeftError(f"{name} holds no SD records (molfile blocks ending in `M  END`, separated by `$$$$`)")
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(data), sanitize=True, removeHs=True)
    rows: list[dict[str, str | None]] = []
    try:
        for mol in supplier:
            if mol is None:
                rows.append({"smiles": ""})
                continue
            row: dict[str, str | None] = {"smiles": Chem.MolToSmiles(mol)}
            if mol.HasProp("_Name") and mol.GetProp("_Name").strip():
                row["name"] = mol.GetProp("_Name").strip()
            for prop in mol.GetPropNames():
                row.setdefault(prop, mol.GetProp(prop))
            rows.append(row)
    except Exception as exc:  # RDKit raises its own types for a broken stream
        raise MolpeftError(f"unreadable SD file {name}: {_first_line(exc)}") from None
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], schema=dict.fromkeys(columns, pl.String))


def _other_separator(df: pl.DataFrame) -> str | None:
    """A one-column read whose header holds `;`, a tab or `|`: the file uses that separator, not commas."""
    if df.width != 1:
        return None
    header = df.columns[0]
    found = [sep for sep in _OTHER_SEPARATORS if sep in header]
    return found[0] if len(found) == 1 else None


def write_table(df: pl.DataFrame, target: str | Path) -> None:
    """Write Parquet atomically; `-` writes Parquet bytes to stdout; a `.csv` name writes CSV."""
    if str(target) == STDIO:
        buf = io.BytesIO()
        df.write_parquet(buf)
        sys.stdout.buffer.write(buf.getvalue())
        sys.stdout.buffer.flush()
        return
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix.lower() == ".csv":
            df.write_csv(tmp)
        else:
            df.write_parquet(tmp)


def require_columns(df: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MolpeftError(f"{what} lacks column(s) {', '.join(missing)}; it has: {', '.join(df.columns)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
