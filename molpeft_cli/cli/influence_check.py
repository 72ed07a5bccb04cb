"""`molpeft influence-check`: how well influence scores predict retraining on the model itself (the LDS)."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.influence_check import CheckStepConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: CheckStepConfig) -> None:
        from molpeft_cli.console import info
        from molpeft_cli.steps.influence_check import influence_check

        def progress(done: int, loss: float) -> None:
            info(f"  subset {done}/{config.subsets}: validation loss {loss:.5f}" if done else
                 f"  train only: validation loss {loss:.5f}")

        influence_check(config, runtime_of(ctx), argv(), progress=progress)

    step_command(app, "influence-check", CheckStepConfig, handle, "Retrain from CKPT with M random pool subsets "
                 "added; LDS = Spearman(predicted, measured) with a bootstrap CI.")
