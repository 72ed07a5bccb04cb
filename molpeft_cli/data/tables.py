"""Reading and writing tables: Parquet (polars) is the contract, CSV is accepted as input, `-` is stdin/stdout."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import polars as pl

from molpeft_cli.data.atomic import atomic_path
from molpeft_cli.errors import MolpeftError

STDIO = "-"
_PARQUET_MAGIC = b"PAR1"


def _read_bytes(source: str | Path) -> tuple[bytes, str]:
    if str(source) == STDIO:
        data = sys.stdin.buffer.read()
        return data, "<stdin>"
    path = Path(source)
    if not path.exists():
        raise MolpeftError(f"input file not found: {path}")
    if path.is_dir():
        raise MolpeftError(f"input is a directory, expected a table file: {path}")
    return path.read_bytes(), str(path)


def read_table(source: str | Path) -> pl.DataFrame:
    """Read a Parquet or CSV table (detected from its bytes, not its name); `-` reads stdin."""
    data, name = _read_bytes(source)
    if not data.strip():
        raise MolpeftError(f"input is empty: {name}")
    if data[:4] == _PARQUET_MAGIC:
        try:
            return pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # polars raises several types for corrupt files
            raise MolpeftError(f"unreadable parquet file {name}: {_first_line(exc)}") from None
    if name.endswith((".parquet", ".pq")):
        raise MolpeftError(f"unreadable parquet file {name}: not a parquet file (bad magic bytes)")
    try:
        df = pl.read_csv(io.BytesIO(data), infer_schema_length=0)  # all strings: labels are checked row by row
    except Exception as exc:
        raise MolpeftError(f"unreadable CSV file {name}: {_first_line(exc)}") from None
    if df.height == 0:
        raise MolpeftError(f"input has a header but no rows: {name}")
    return df


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
