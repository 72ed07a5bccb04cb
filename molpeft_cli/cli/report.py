"""`molpeft report`: turn a run directory into report.md, a self-contained report.html and figures."""

from __future__ import annotations

from typing import Annotated

import typer


def report(
    run_dir: Annotated[str, typer.Argument(metavar="RUN_DIR", help="Run directory written by `molpeft run`.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Report folder (replaced as a whole).")],
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the confidence intervals.")] = 2000,
    seed: Annotated[int | None, typer.Option(help="Bootstrap seed (default: the global --seed).")] = None,
    baseline: Annotated[bool, typer.Option(help="Add the random-forest baseline (cached in RUN_DIR/baseline).")] = True,
    rf_trees: Annotated[int, typer.Option(help="Trees in the random-forest baseline.")] = 500,
) -> None:
    """Summarise a run: MSE matrix over seeds, paired bootstrap intervals, trade-offs, parity, data and audit."""
    from pathlib import Path

    from molpeft_cli.console import info
    from molpeft_cli.report import ForestConfig, ReportOptions, build_report
    from molpeft_cli.settings import resolve_seed

    options = ReportOptions(n_resamples=resamples, seed=resolve_seed(seed), baseline=baseline,
                            forest=ForestConfig(n_trees=rf_trees))
    out_dir = build_report(Path(run_dir), Path(output), options)
    info(f"report written to {out_dir / 'report.html'} and {out_dir / 'report.md'}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
