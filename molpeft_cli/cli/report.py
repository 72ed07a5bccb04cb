"""`molpeft report`: turn a run directory into report.md (and its headline alone, headline.md), a self-contained
report.html, figures and tables."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.report import ReportConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: ReportConfig) -> None:
        from molpeft_cli.console import info
        from molpeft_cli.steps.report import build_report

        result = build_report(config, runtime_of(ctx), argv())
        info(f"report written to {result.html} and {result.markdown}")

    step_command(app, "report", ReportConfig, handle, "Summarise a run: headline (PEFT/full ratios, selections "
                 "that beat none), MSE matrix over seeds, paired bootstrap intervals, trade-offs, parity, data and "
                 "audit.")
