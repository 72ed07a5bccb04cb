"""`molpeft audit`: find pool molecules that are the same compound as a train/valid/test molecule."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.audit import AuditConfig


def print_counts(counts) -> None:
    from rich.table import Table

    from molpeft_cli.console import console, verbosity

    if verbosity() < 0:
        return
    table = Table(title=f"leakage audit: {counts.pool_size} pool molecules", title_justify="left")
    for col in ("collides with", "same InChIKey", "same skeleton (stereo-free)"):
        table.add_column(col, justify="right" if col != "collides with" else "left")
    for split, c in counts.by_split.items():
        table.add_row(split, str(c["same_inchikey"]), str(c["same_skeleton"]))
    table.add_row("any", str(counts.same_inchikey), str(counts.same_skeleton), end_section=True)
    console.print(table)


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: AuditConfig) -> None:
        from molpeft_cli.steps.audit import audit

        print_counts(audit(config, runtime_of(ctx), argv()).counts)

    step_command(app, "audit", AuditConfig, handle, "List pool molecules with the same InChIKey (and the same "
                 "stereo-free skeleton) as dataset molecules.")
