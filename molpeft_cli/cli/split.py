"""`molpeft split`: assign train/valid/test with a DeepChem splitter and summarise the split's quality."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.split import SplitConfig


def print_summaries(summaries) -> None:
    from rich.table import Table

    from molpeft_cli.console import console, verbosity

    if verbosity() < 0:
        return
    table = Table(title="split quality (shared: scaffolds in 2+ splits; sim: test→train max Tanimoto)",
                  title_justify="left")
    # shared: scaffolds in more than one split; sim: each test molecule's max Tanimoto to train, mean / median
    binary = any(s.class_counts is not None for s in summaries)  # binary labels: the positives per split too
    columns = ("strategy", "split", "n", "frac", "label mean", "sd", *(("positive",) if binary else ()),
               "scaffolds", "shared", "sim mean/med")
    for column in columns:
        table.add_column(column, justify="left" if column in ("strategy", "split") else "right")
    for s in summaries:
        total = sum(p["n"] for p in s.per_split.values())
        for i, (name, p) in enumerate(s.per_split.items()):
            positive = (str(s.class_counts[name]["positive"]) if s.class_counts else "",) if binary else ()
            table.add_row(
                s.strategy if i == 0 else "", name, str(p["n"]), f"{p['n'] / total:.3f}",
                f"{p['label_mean']:.2f}", f"{p['label_sd']:.2f}", *positive, str(p["scaffolds"]),
                str(s.shared_scaffolds["any"]) if i == 0 else "",
                f"{s.test_max_tanimoto_mean:.2f}/{s.test_max_tanimoto_median:.2f}" if i == 0 else "",
                end_section=i == len(s.per_split) - 1,
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: SplitConfig) -> None:
        from molpeft_cli.steps.split import split

        result = split(config, runtime_of(ctx), argv())
        print_summaries(result.summaries)

    step_command(app, "split", SplitConfig, handle, "Split a molecule table into train/valid/test and report "
                 "scaffold overlap and test-to-train similarity.")
