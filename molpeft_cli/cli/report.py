"""`molpeft report`: turn a run directory, any folder of evaluations or metrics tables into report.md (and its
headline alone, headline.md), a self-contained report.html, figures and tables."""

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

    step_command(app, "report", ReportConfig, handle, "Summarise a run, a folder of hand-chained evaluations, or "
                 "metrics tables (`molpeft report -o DIR eval/*.metrics.parquet`): headline (PEFT/full ratios, "
                 "selections that beat none after Holm's correction), the main metric's matrix over seeds (test "
                 "MSE; ROC-AUC for classification), paired bootstrap intervals, trade-offs, parity (ROC and "
                 "calibration curves for classification), budget curves when strategies ran at several budgets, "
                 "the uncertainty check of mcdropout selections, data and audit. Minimal layout: each cell's "
                 "metrics table with the .manifest.json `molpeft eval` writes, and the checkpoint directory it "
                 "names (finetune.json, manifest.json).")
