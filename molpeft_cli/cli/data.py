"""`molpeft data`: a bundled dataset, a file or a URL -> the molecule table (+ rejects)."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.data import DataConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: DataConfig) -> None:
        from molpeft_cli.steps.data import load_data

        load_data(config, runtime_of(ctx), argv())

    step_command(app, "data", DataConfig, handle,
                 "Read a dataset, standardise every molecule with RDKit, and write the molecule table.")
