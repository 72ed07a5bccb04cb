"""The report's budget section: test score against the molecules added, per adapter and strategy, and each
strategy's difference to random at each budget (figure and table)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from molpeft_cli.report import figures
from molpeft_cli.report.analysis import Analysis
from molpeft_cli.report.budgets import BASELINE
from molpeft_cli.report.document import Cell, Figure, Paragraph, Section, Strong, Table, fmt, fmt_p
from molpeft_cli.report.results_sections import corrected_verdict, interval_text
from molpeft_cli.report.wording import metric_name

TITLE = "Budget curves: test score against molecules added"


def budget_section(analysis: Analysis, figures_dir: Path) -> Section | None:
    """None when no strategy ran at more than one budget (the report is then as it was)."""
    table, metric = analysis.budgets, analysis.metric
    if table is None or not table.height:
        return None
    name, opts = metric_name(metric), analysis.options
    adapters = [a for a in analysis.data.adapters() if a in set(table["adapter"].to_list())]
    largest = table.filter(~pl.col("selection").is_in(["none", "all"]))["budget"].max()
    m = table["p_value"].drop_nulls().len()
    text = (f"Each strategy at every budget it ran (molecules asked for; `none` is budget 0, `all` the whole pool). "
            f"The test {name} is the mean over seeds, with a 95% two-level percentile bootstrap band (seeds, then "
            f"test molecules; {opts.n_resamples} resamples) as for every interval here. Δ to {BASELINE}: the "
            f"strategy minus {BASELINE} at the same budget, paired on seed and mol_id; p is the two-sided bootstrap "
            f"p-value from the same resamples and Holm adjusts it over all {m} comparisons to {BASELINE} in this "
            "table. A verdict needs at least 2 seeds, a Holm p below 0.05 and an interval that excludes 0 (bold "
            f"with *). The matrix and the differences to `none` above show each strategy at its largest budget "
            f"({largest} for most). The molecules added can fall short of the budget (influence keeps positive "
            "scores only): the curve is drawn at the mean number added.")
    rows: list[list[Cell]] = []
    for row in table.iter_rows(named=True):
        band = interval_text(row[f"{metric}_low"], row[f"{metric}_high"])
        delta = row[f"delta_{metric}"]
        ci = interval_text(row["ci_low"], row["ci_high"]) if delta is not None else ""
        holds = row["verdict"] in ("better", "worse")
        rows.append([row["adapter"], row["selection"], str(row["budget"]), fmt(row["n_added"], 1),
                     str(row["n_seeds"]), f"{fmt(row[metric])} {band}", fmt(delta, 4) if delta is not None else "",
                     Strong(ci + " *") if holds else ci, fmt_p(row["p_holm"]) if delta is not None else "",
                     corrected_verdict(row, metric) if delta is not None else ""])
    return Section(TITLE, [
        Paragraph(text),
        Figure(figures.budget_curves(table, adapters, figures_dir / "budget_curves.png", metric),
               f"Top: test {name} against the molecules added, one line per strategy from `none` (0) with its 95% "
               f"band; star: `all` (the whole pool). Bottom: Δ{name} to {BASELINE} at each budget with its paired "
               "95% interval (dashed: 0)."),
        Table(["adapter", "selection", "budget", "added (mean)", "seeds", f"test {name} [95% band]",
               f"Δ{name} to {BASELINE}", "95% CI", "p (Holm)", "verdict"], rows, text_columns=2),
    ])
