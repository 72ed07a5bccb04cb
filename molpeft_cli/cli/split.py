"""`molpeft split`: assign train/valid/test with a DeepChem splitter and summarise the split's quality."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from molpeft_cli.choices import SPLIT_STRATEGIES


def split(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="Molecule table (or raw CSV/parquet); '-' for stdin.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Split table ('-' for stdout); with --compare, "
                                        "the comparison table.")],
    strategy: Annotated[str, typer.Option(help=f"One of {', '.join(SPLIT_STRATEGIES)}.")] = "scaffold",
    frac: Annotated[tuple[float, float, float], typer.Option(help="Train, valid, test fractions.")] = (0.8, 0.1, 0.1),
    seed: Annotated[int | None, typer.Option(help="Split seed (default: the global --seed).")] = None,
    summary: Annotated[str | None, typer.Option(help="Write the split-quality summary here as JSON.")] = None,
    compare: Annotated[bool, typer.Option(help="Run all six strategies; -o gets one comparison table.")] = False,
) -> None:
    """Split a molecule table into train/valid/test and report scaffold overlap and test-to-train similarity."""
    import polars as pl

    from molpeft_cli.chem.splitters import STRATEGIES, check_fractions, split_molecules, summarize_split
    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.console import info
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.settings import resolve_seed

    if not compare and strategy not in STRATEGIES:
        raise MolpeftError(f"unknown split strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    check_fractions(frac)
    seed = resolve_seed(seed)
    table = load_molecules(input, "input")
    recorder = Recorder("split", dict(strategy="all" if compare else strategy, frac=list(frac), compare=compare),
                        seed, {"input": input})
    strategies = list(STRATEGIES) if compare else [strategy]
    summaries = []
    split_table = None
    for name in strategies:
        info(f"splitting {table.height} molecules with the {name} splitter")
        split_table = split_molecules(table, name, frac, seed)
        summaries.append(summarize_split(split_table, name))
    print_summaries(summaries)
    if summary:
        payload = [s.to_dict() for s in summaries] if compare else summaries[0].to_dict()
        write_text_atomic(summary, json.dumps(payload, indent=2) + "\n")
    if compare:
        write_table(pl.DataFrame([s.comparison_row() for s in summaries]), output)
    else:
        write_table(split_table, output)
    recorder.write(output, extra={"summary": [s.to_dict() for s in summaries]})


def print_summaries(summaries) -> None:
    from rich.table import Table

    from molpeft_cli.console import console, verbosity

    if verbosity() < 0:
        return
    table = Table(title="split quality (shared: scaffolds in 2+ splits; sim: test→train max Tanimoto)",
                  title_justify="left")
    # shared: scaffolds in more than one split; sim: each test molecule's max Tanimoto to train, mean / median
    for column in ("strategy", "split", "n", "frac", "label mean", "sd", "scaffolds", "shared", "sim mean/med"):
        table.add_column(column, justify="left" if column in ("strategy", "split") else "right")
    for s in summaries:
        total = sum(p["n"] for p in s.per_split.values())
        for i, (name, p) in enumerate(s.per_split.items()):
            table.add_row(
                s.strategy if i == 0 else "", name, str(p["n"]), f"{p['n'] / total:.3f}",
                f"{p['label_mean']:.2f}", f"{p['label_sd']:.2f}", str(p["scaffolds"]),
                str(s.shared_scaffolds["any"]) if i == 0 else "",
                f"{s.test_max_tanimoto_mean:.2f}/{s.test_max_tanimoto_median:.2f}" if i == 0 else "",
                end_section=i == len(s.per_split) - 1,
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("split")(split)
