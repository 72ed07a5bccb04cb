"""`molpeft eval`: predictions and metrics of a fine-tuned checkpoint on one split of a table."""

from __future__ import annotations

import json
from typing import Annotated

import typer

SPLIT_CHOICES = ("train", "valid", "test", "all")


def evaluate(
    checkpoint: Annotated[str, typer.Argument(metavar="CKPT", help="Fine-tuned checkpoint directory.")],
    data: Annotated[str, typer.Argument(metavar="DATA", help="Split table (or molecule table with --split all).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Predictions table ('-' for stdout).")],
    split: Annotated[str, typer.Option(help="train | valid | test | all.")] = "test",
    metrics: Annotated[str | None, typer.Option(help="Write the metrics here as a one-row table.")] = None,
    run: Annotated[str | None, typer.Option(help="Run name in the metrics (default: checkpoint folder).")] = None,
    truncate: Annotated[bool, typer.Option(help="Cut over-long molecules instead of failing.")] = False,
    variant: Annotated[str, typer.Option(help="Label for the training route, e.g. two-stage or direct.")] = "",
) -> None:
    """Predict one split with a checkpoint; print metrics (n, MSE, RMSE, MAE, R2, Spearman) as JSON."""
    from pathlib import Path

    import polars as pl

    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.console import console, verbosity
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.metrics import regression_metrics
    from molpeft_cli.training.prediction import predict_molecules

    if split not in SPLIT_CHOICES:
        raise MolpeftError(f"unknown --split {split!r}; choose one of {', '.join(SPLIT_CHOICES)}")
    recorder = Recorder("eval", dict(split=split, truncate=truncate, variant=variant), None,
                        {"checkpoint": checkpoint, "data": data})
    ft = load_finetuned(checkpoint)
    table = load_molecules(data, "data")
    if split != "all":
        if "split" not in table.columns:
            raise MolpeftError(f"{data} has no `split` column; use --split all or run `molpeft split`")
        table = table.filter(pl.col("split") == split)
    else:
        table = table.with_columns(pl.col("split") if "split" in table.columns else pl.lit("all").alias("split"))
    if table.height == 0:
        raise MolpeftError(f"no molecules in split {split!r} of {data}")
    preds = predict_molecules(ft, table["smiles_canonical"].to_list(), table["mol_id"].to_list(), truncate=truncate)
    out = table.select("mol_id", "split", "label").with_columns(pl.Series("prediction", preds))
    labelled = out.filter(pl.col("label").is_not_null())
    scores = regression_metrics(labelled["label"].to_numpy(), labelled["prediction"].to_numpy())
    meta = ft.meta
    row = {"run": run or Path(checkpoint).name, "split": split, **scores,
           "trainable_params": meta["trainable_params"], "total_params": meta["total_params"],
           "train_seconds": meta["train_seconds"], "seed": meta["seed"], "peft": meta["peft"],
           "selection": meta["selection"], "model": meta["base_model"]["ref"], "variant": variant}
    write_table(out, output)
    if metrics:
        write_table(pl.DataFrame([row]), metrics)
        recorder.write(metrics, extra={"metrics": row})
    recorder.write(output, extra={"metrics": row})
    if verbosity() >= 0:
        console.print(f"{row['run']} ({split}) n={scores['n']} MSE {scores['mse']:.4f} RMSE {scores['rmse']:.4f} "
                      f"MAE {scores['mae']:.4f} R2 {scores['r2']:.3f} Spearman {scores['spearman']:.3f}")
    if output != "-":
        typer.echo(json.dumps(row))


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
