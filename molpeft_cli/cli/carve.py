"""`molpeft carve`: set aside a pool of whole scaffold groups from a dataset (when no external pool is given)."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.carve import CarveConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: CarveConfig) -> None:
        from molpeft_cli.steps.carve import carve

        carve(config, runtime_of(ctx), argv())

    step_command(app, "carve", CarveConfig, handle,
                 "Move seeded whole Bemis-Murcko scaffold groups into a pool table until it holds --size molecules.")
