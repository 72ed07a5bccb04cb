"""`molpeft select`: choose pool molecules to add to training (random, mcdropout, maxmin, influence, all)."""

from __future__ import annotations

from typing import Annotated

import typer

STRATEGIES = ("random", "mcdropout", "maxmin", "influence", "all")


def select(
    pool: Annotated[str, typer.Argument(metavar="POOL", help="Pool table (molecule table or raw CSV/parquet).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Selection table ('-' for stdout).")],
    strategy: Annotated[str, typer.Option(help=f"One of {', '.join(STRATEGIES)}.")] = "random",
    k: Annotated[int, typer.Option("-k", help="How many molecules to choose.")] = 185,
    threshold: Annotated[float | None, typer.Option(help="Choose all scoring at least this instead of -k "
                                                    "(mcdropout: std; maxmin: Tanimoto distance; influence).")]
    = None,
    exclude: Annotated[str | None, typer.Option(help="Split table: pool molecules that are the same compound as "
                                                "a valid/test molecule are excluded (and reported).")] = None,
    exclude_splits: Annotated[str, typer.Option(help="Which splits --exclude guards.")] = "valid,test",
    train: Annotated[str | None, typer.Option(help="maxmin: split table whose train molecules the picks "
                                              "should also be far from (default: --exclude's table).")] = None,
    model: Annotated[str | None, typer.Option(help="mcdropout: fine-tuned checkpoint directory.")] = None,
    passes: Annotated[int, typer.Option(help="mcdropout: stochastic forward passes.")] = 100,
    scores: Annotated[str | None, typer.Option(help="influence: scores table from `molpeft influence`.")] = None,
    truncate: Annotated[bool, typer.Option(help="mcdropout: cut over-long molecules instead of failing.")] = True,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="mcdropout: forward passes under bfloat16 autocast "
                                       "(several times faster on CPU).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the global --seed).")] = None,
) -> None:
    """Choose -k pool molecules by a strategy, after excluding pool molecules that leak into valid/test."""
    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.data.tables import read_table, write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.selection.job import run_selection
    from molpeft_cli.settings import resolve_seed

    if strategy not in STRATEGIES:
        raise MolpeftError(f"unknown --strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    seed = resolve_seed(seed)
    splits = tuple(s.strip() for s in exclude_splits.split(",") if s.strip())
    params = dict(strategy=strategy, k=k, threshold=threshold, exclude_splits=list(splits), passes=passes,
                  truncate=truncate, bf16=bf16)
    recorder = Recorder("select", params, seed, {"pool": pool, "exclude": exclude, "train": train,
                                                 "model": model, "scores": scores})
    pool_table = load_molecules(pool, "pool", unlabeled=True)
    split_table = load_molecules(exclude, "split") if exclude else None
    train_table = load_molecules(train, "train") if train else split_table
    score_table = read_table(scores) if scores else None
    options = dict(k=k, threshold=threshold, seed=seed, passes=passes)
    chosen, record = run_selection(pool_table, strategy, options, split_table, splits, train_table, model,
                                   score_table, truncate, bf16=bf16)
    write_table(chosen, output)
    recorder.write(output, extra={"selection": record})


def register(app: typer.Typer) -> None:
    app.command("select")(select)
