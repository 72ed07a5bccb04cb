"""`molpeft predict`: predictions for SMILES from arguments, a file, or stdin."""

from __future__ import annotations

import dataclasses

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.predict import PredictConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: PredictConfig) -> None:
        import sys

        from molpeft_cli.steps.predict import predict

        texts: list[str] = []
        for arg in config.smiles or []:  # '-' reads SMILES from stdin, one per line
            if arg == "-":
                texts.extend(line.strip() for line in sys.stdin if line.strip())
            else:
                texts.append(arg)
        result = predict(dataclasses.replace(config, smiles=texts), runtime_of(ctx), argv())
        if not config.output:
            result.table.write_csv(sys.stdout)

    step_command(app, "predict", PredictConfig, handle, "Predict the property for each SMILES; invalid ones get "
                 "a per-row error and never stop the rest.")
