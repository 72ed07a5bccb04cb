"""`molpeft eval`: predictions and metrics of a fine-tuned checkpoint on one split of a table."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.evaluate import EvalConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: EvalConfig) -> None:
        import json

        from molpeft_cli.console import console, verbosity
        from molpeft_cli.steps.evaluate import evaluate

        row = evaluate(config, runtime_of(ctx), argv()).metrics
        if verbosity() >= 0 and row.get("task") == "classification":
            console.print(f"{row['run']} ({row['split']}) n={row['n']} ({row['n_positive']} positive) ROC-AUC "
                          f"{row['roc_auc']:.3f} PR-AUC {row['pr_auc']:.3f} accuracy {row['accuracy']:.3f} "
                          f"balanced accuracy {row['balanced_accuracy']:.3f} log loss {row['log_loss']:.4f} "
                          f"Brier {row['brier']:.4f}")
        elif verbosity() >= 0:
            console.print(f"{row['run']} ({row['split']}) n={row['n']} MSE {row['mse']:.4f} RMSE {row['rmse']:.4f} "
                          f"MAE {row['mae']:.4f} R2 {row['r2']:.3f} Spearman {row['spearman']:.3f}")
        if config.output != "-":
            typer.echo(json.dumps(row))

    step_command(app, "eval", EvalConfig, handle, "Predict one split with a checkpoint; print metrics (n, MSE, "
                 "RMSE, MAE, R2, Spearman; classification: ROC-AUC, PR-AUC, accuracy, balanced accuracy, log loss, "
                 "Brier) as JSON.")
