"""`molpeft audit`: find pool molecules that are the same compound as a train/valid/test molecule."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def audit(
    split_table: Annotated[
        str, typer.Argument(metavar="SPLIT", help="Split table (or any molecule table).")
    ],
    pool: Annotated[str, typer.Argument(metavar="POOL", help="Pool: molecule table or raw CSV/parquet with SMILES.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Collision table ('-' for stdout).")],
    summary: Annotated[str | None, typer.Option(help="Write the summary counts here as JSON.")] = None,
    tolerance: Annotated[float, typer.Option(help="Label difference above which a same-compound pair "
                                             "is reported as a conflict.")] = 0.3,
) -> None:
    """List pool molecules with the same InChIKey (and the same stereo-free skeleton) as dataset molecules."""
    from rich.table import Table

    from molpeft_cli.chem.audit import audit_pool
    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.console import console, info, verbosity
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.tables import write_table

    recorder = Recorder("audit", dict(tolerance=tolerance), None, {"split": split_table, "pool": pool})
    dataset = load_molecules(split_table, "split")
    pool_table = load_molecules(pool, "pool", unlabeled=True)
    hits, counts = audit_pool(dataset, pool_table, tolerance=tolerance)
    if verbosity() >= 0:
        table = Table(title=f"leakage audit: {counts.pool_size} pool molecules", title_justify="left")
        for col in ("collides with", "same InChIKey", "same skeleton (stereo-free)"):
            table.add_column(col, justify="right" if col != "collides with" else "left")
        for split, c in counts.by_split.items():
            table.add_row(split, str(c["same_inchikey"]), str(c["same_skeleton"]))
        table.add_row("any", str(counts.same_inchikey), str(counts.same_skeleton), end_section=True)
        console.print(table)
    if counts.label_conflicts:
        info(f"{counts.label_conflicts} same-compound pairs disagree on the label by more than {tolerance}")
    if summary:
        write_text_atomic(summary, json.dumps(counts.to_dict(), indent=2) + "\n")
    write_table(hits, output)
    recorder.write(output, extra={"summary": counts.to_dict()})


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
