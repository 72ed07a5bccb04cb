"""`molpeft tune`: sweep a method's learning rate (and LoRA rank/alpha) on the validation split."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.tune import TuneConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: TuneConfig) -> None:
        from molpeft_cli.console import info
        from molpeft_cli.steps.tune import tune

        result = tune(config, runtime_of(ctx), argv())
        info(f"winner: {', '.join(f'{k} {v:g}' for k, v in result.best.items())}; {result.margin}")
        info(f"wrote {result.directory}/tune.md, results.parquet, trials.parquet and best.toml")

    step_command(app, "tune", TuneConfig, handle, "Grid-search the fine-tuning recipe (lr; LoRA rank/alpha) on "
                 "the validation split (MSE; log loss for classification); writes tune.md, results.parquet, "
                 "trials.parquet, best.toml.")
