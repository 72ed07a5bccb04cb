"""`molpeft finetune`: stage-2 supervised fine-tuning with full, BitFit, LoRA or (IA)3."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.finetune import FinetuneConfig


def _train_with_progress(run, max_epochs: int):
    """Run `run(on_epoch)` under an epoch progress bar (none with -q)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from molpeft_cli.console import console, verbosity

    if verbosity() < 0:
        return run(None)
    with Progress(TextColumn("[bold]fine-tuning[/bold]"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                  transient=False) as progress:
        task = progress.add_task("epochs", total=max_epochs, status="")

        def on_epoch(row: dict) -> None:
            mark = "*" if row["improved"] else " "
            if "valid_mse" in row:
                scores = f"valid MSE {row['valid_mse']:.3f} MAE {row['valid_mae']:.3f}"
            else:
                scores = f"valid log loss {row['valid_log_loss']:.3f} ROC-AUC {row['valid_roc_auc']:.3f}"
            progress.update(task, advance=1, status=f"epoch {row['epoch']}{mark} train {row['train_loss']:.3f} "
                            f"{scores}")

        return run(on_epoch)


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: FinetuneConfig) -> None:
        from molpeft_cli.steps.finetune import finetune

        runtime = runtime_of(ctx)
        _train_with_progress(lambda on_epoch: finetune(config, runtime, argv(), on_epoch=on_epoch),
                             config.recipe.max_epochs)

    step_command(app, "finetune", FinetuneConfig, handle, "Fine-tune the model on the train split (plus --extra "
                 "molecules) for regression or binary classification (--task); early stopping on valid.")
