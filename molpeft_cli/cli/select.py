"""`molpeft select`: choose pool molecules to add to training (random, mcdropout, maxmin, influence, all, egl,
kcenter, badge, lcmd, gradsim)."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.select import SelectConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: SelectConfig) -> None:
        from molpeft_cli.steps.select import select

        select(config, runtime_of(ctx), argv())

    step_command(app, "select", SelectConfig, handle, "Choose -k pool molecules by a strategy, after excluding "
                 "pool molecules that leak into valid/test.")
