"""`molpeft influence`: estimated effect of adding each pool molecule on the validation loss (LiSSA, CG, exact,
projected)."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.influence import InfluenceConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: InfluenceConfig) -> None:
        from molpeft_cli.steps.influence import influence

        influence(config, runtime_of(ctx), argv())

    step_command(app, "influence", InfluenceConfig, handle, "Score pool molecules: score = grad L_valid^T "
                 "(H + damping I)^-1 grad L(z); positive = helpful.")
