"""`molpeft predict`: predictions for SMILES from arguments, a file, or stdin."""

from __future__ import annotations

from typing import Annotated

import typer


def predict(
    checkpoint: Annotated[str, typer.Argument(metavar="CKPT", help="Fine-tuned checkpoint directory.")],
    smiles: Annotated[list[str] | None, typer.Argument(metavar="[SMILES]...", help="SMILES; '-' reads stdin.")] = None,
    input: Annotated[str | None, typer.Option("--input", "-i", help="File of SMILES: one per line, or a "
                                              "CSV/parquet with a SMILES column.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write a table here instead of CSV "
                                               "on stdout.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail on the first invalid SMILES.")] = False,
    truncate: Annotated[bool, typer.Option(help="Cut over-long molecules instead of reporting them.")] = False,
) -> None:
    """Predict the property for each SMILES; invalid ones get a per-row error and never stop the rest."""
    import sys

    import polars as pl

    from molpeft_cli.console import warn
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.prediction import predict_smiles_rows

    texts = _collect(smiles or [], input)
    if not texts:
        raise MolpeftError("no SMILES given: pass them as arguments, with --input FILE, or '-' for stdin")
    ft = load_finetuned(checkpoint)
    rows = predict_smiles_rows(ft, texts, truncate=truncate)
    failed = [r for r in rows if r["error"]]
    if failed and strict:
        raise MolpeftError(f"--strict: {failed[0]['smiles']!r}: {failed[0]['error']}")
    for r in failed:
        warn(f"{r['smiles']!r}: {r['error']}")
    table = pl.DataFrame(rows, schema={"smiles": pl.String, "smiles_canonical": pl.String,
                                       "prediction": pl.Float64, "error": pl.String})
    if output:
        write_table(table, output)
    else:
        table.write_csv(sys.stdout)


def _collect(arguments: list[str], input_path: str | None) -> list[str]:
    import sys

    texts: list[str] = []
    for arg in arguments:
        if arg == "-":
            texts.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            texts.append(arg)
    if input_path:
        texts.extend(_read_smiles_file(input_path))
    return texts


def _read_smiles_file(path: str) -> list[str]:
    from pathlib import Path

    import polars as pl

    from molpeft_cli.data.molecules import SMILES_NAMES, detect_column
    from molpeft_cli.data.tables import read_table
    from molpeft_cli.errors import MolpeftError

    p = Path(path)
    if not p.is_file():
        raise MolpeftError(f"input file not found: {path}")
    raw = p.read_bytes()
    if raw[:4] != b"PAR1" and p.suffix.lower() not in (".csv", ".parquet", ".pq"):
        return [line.strip() for line in raw.decode().splitlines() if line.strip()]
    table = read_table(p)
    column = detect_column(table, None, SMILES_NAMES, "SMILES")
    if column is None:
        raise MolpeftError(f"no SMILES column in {path}; columns: {', '.join(table.columns)}")
    return [s if s is not None else "" for s in table[column].cast(pl.String).to_list()]


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
