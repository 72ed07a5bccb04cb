"""The report's first section: the answers in one screen, also written alone as headline.md.

What a reader quotes: each adapter's test score (MSE; ROC-AUC for classification) with no added data and in its best
cell, the PEFT-to-full ratio of that score with its paired bootstrap interval, the selections that help or hurt
against `none` (at least 2 seeds, seed-level interval excluding 0 and Holm-adjusted p < 0.05 over the matrix's
comparisons; with one seed, the differences without a verdict), the two training routes, and the baselines trained on
the same split.
"""

from __future__ import annotations

import polars as pl

from molpeft_cli.report.analysis import Analysis, best_rows
from molpeft_cli.report.document import (
    Bullets,
    Cell,
    Paragraph,
    Section,
    Strong,
    Table,
    fmt,
    fmt_count,
    fmt_mean_sd,
    fmt_p,
)
from molpeft_cli.report.results_sections import route_meaning
from molpeft_cli.report.wording import ROUTE_CELLS, better_direction, interval_better, metric_name
from molpeft_cli.tasks import CLASSIFICATION

TITLE = "Headline"


def headline_section(analysis: Analysis) -> Section:
    data, summary, metric = analysis.data, analysis.main_summary(), analysis.metric
    name = metric_name(metric)
    n_seeds = len(data.seeds)
    best = {row["adapter"]: row for row in best_rows(summary, metric)}
    rows: list[list[Cell]] = []
    for adapter in data.adapters():
        none = _summary_row(summary, adapter, "none")
        cell = best.get(adapter)
        rows.append([
            adapter,
            fmt_count(summary.filter(pl.col("adapter") == adapter)["trainable_params"].max()),
            _mse_text(none, n_seeds, metric) if none else "–",
            f"{_mse_text(cell, n_seeds, metric)} ({cell['selection']})" if cell else "–",
            "1 (reference)" if adapter == "full" else _ratio_text(analysis, "same selection", adapter, "none"),
            "1 (reference)" if adapter == "full" else _ratio_text(analysis, "best cells", adapter),
        ])
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    side = "above" if better_direction(metric) == "higher" else "below"
    blocks = [
        Table(["adapter", "trainable params", f"test {name}, no added data", "best cell (selection)",
               "÷ full, no added data [95% CI]", "÷ full, best cells [95% CI]"], rows,
              caption=f"{ROUTE_CELLS[data.main_variant]}, test {name} mean ± sd over {seeds}. A ratio divides the "
                      f"adapter's test {name} by full fine-tuning's on the same seeds and test molecules ({side} 1: "
                      "the adapter is better); its interval is a paired two-level bootstrap. \"Best cell\" is "
                      f"chosen on the test {name} itself, so it flatters every adapter alike; the no-added-data "
                      "column is the unselected comparison."),
        Bullets([_selections_text(analysis), _route_text(analysis), _baselines_text(analysis, best)]),
    ]
    if n_seeds == 1:
        blocks.insert(0, Paragraph("One seed: the intervals cover test-molecule sampling only, not training noise."))
    if analysis.task == CLASSIFICATION:
        blocks.insert(0, Paragraph("Binary classification: every number below is the test ROC-AUC (higher is "
                                   "better), the main metric because it is threshold-free and insensitive to the "
                                   "class balance."))
    return Section(TITLE, blocks)


def _mse_text(row: dict, n_seeds: int, metric: str = "mse") -> str:
    text = fmt_mean_sd(row[f"{metric}_mean"], row[f"{metric}_sd"])
    return text if row["n_seeds"] == n_seeds else f"{text} [{row['n_seeds']} of {n_seeds} seeds]"


def _summary_row(summary: pl.DataFrame, adapter: str, selection: str) -> dict | None:
    rows = summary.filter((pl.col("adapter") == adapter) & (pl.col("selection") == selection))
    return rows.row(0, named=True) if rows.height else None


def _ratio_text(analysis: Analysis, comparison: str, adapter: str, selection: str | None = None) -> Cell:
    ratios = analysis.ratios
    if ratios is None or not ratios.height:
        return "n/a"
    rows = ratios.filter((pl.col("comparison") == comparison) & (pl.col("adapter") == adapter))
    if selection is not None:
        rows = rows.filter(pl.col("selection") == selection)
    if not rows.height:
        return "n/a"
    row = rows.row(0, named=True)
    text = f"{fmt(row['ratio'], 2)} [{fmt(row['ci_low'], 2)}, {fmt(row['ci_high'], 2)}]"
    known = row["ci_low"] is not None and row["ci_high"] is not None
    return Strong(text) if known and interval_better(row["ci_low"], row["ci_high"], analysis.metric, 1.0) else text


def _selections_text(analysis: Analysis) -> str:
    """The selections that help or hurt against `none`: a verdict only with at least 2 seeds and a Holm-adjusted
    p-value below 0.05 over every comparison of the matrix; with one seed, the differences without a verdict."""
    differences, metric = analysis.differences, analysis.metric
    if differences is None or not differences.height:
        return "Selections against no added data: no cell could be paired with its adapter's `none` cell."
    known = differences.filter(pl.col("verdict").is_not_null())
    name, higher = metric_name(metric), better_direction(metric) == "higher"

    def names(table: pl.DataFrame, p: bool = True) -> str:
        return "; ".join(f"{r['adapter']}/{r['selection']} {fmt(r[f'delta_{metric}'], 3)} [{fmt(r['ci_low'], 3)}, "
                         f"{fmt(r['ci_high'], 3)}]" + (f" (Holm p {fmt_p(r['p_holm'])})" if p else "")
                         for r in table.iter_rows(named=True))

    if not known.filter(pl.col("n_seeds") >= 2).height:
        return ("One seed cannot separate the strategies: its intervals cover test-molecule sampling only, not "
                "training noise, so no selection is called better or worse than no added data. The differences "
                f"(Δ{name} to the adapter's `none` cell [95% CI over test molecules]), of {known.height} "
                "compared: " + (names(known, p=False) or "none") + ".")
    better = known.filter(pl.col("verdict") == "better")
    worse = known.filter(pl.col("verdict") == "worse")
    good = "above" if higher else "below"
    text = (f"Selections that beat no added data (Δ{name} to the adapter's `none` cell; a verdict needs at least 2 "
            f"seeds, a seed-level paired bootstrap 95% CI {good} 0 and a Holm-adjusted p < 0.05 over the comparisons "
            f"shown), of {known.height} compared: " + (names(better) if better.height else "none") + ".")
    if worse.height:
        text += " Worse than no added data by the same rule: " + names(worse) + "."
    uncorrected = known.filter(pl.col("excludes_zero").fill_null(False) & (pl.col("n_seeds") >= 2)
                               & ~pl.col("verdict").is_in(["better", "worse"]))
    if uncorrected.height:
        text += (" Their uncorrected 95% CIs exclude 0, but not after Holm's correction (no verdict): "
                 + names(uncorrected) + ".")
    single = known.filter(pl.col("n_seeds") < 2).height
    if single:
        text += f" {single} comparison{'s have' if single > 1 else ' has'} one seed only and no verdict."
    return text


def _route_text(analysis: Analysis) -> str:
    interval = analysis.finetuning
    if interval is None:
        return "Two-stage vs direct fine-tuning: not in this run (no paired full/none cells of both routes)."
    meaning = route_meaning(interval, analysis.metric)
    return (f"Two-stage (MLM, then supervised) minus direct, full fine-tuning with no added "
            f"data: Δ{metric_name(analysis.metric)} {fmt(interval.estimate, 3)} [{fmt(interval.low, 3)}, "
            f"{fmt(interval.high, 3)}] over {interval.n_seeds} seed(s): {meaning}.")


def _baselines_text(analysis: Analysis, best: dict[str, dict]) -> str:
    parts, metric = [], analysis.metric
    forest = "random-forest classifier" if analysis.task == CLASSIFICATION else "random forest"
    if analysis.baseline_value is not None:
        sd = analysis.baseline[metric].std() if analysis.baseline.height > 1 else None
        parts.append(f"{forest} on Morgan counts {fmt_mean_sd(analysis.baseline_value, sd)}")
    if analysis.chemprop_value is not None:
        sd = analysis.chemprop[metric].std() if analysis.chemprop.height > 1 else None
        parts.append(f"chemprop D-MPNN {fmt_mean_sd(analysis.chemprop_value, sd)}")
    if not parts:
        return "Baselines: none in this report (see the notes)."
    column, pick = f"{metric}_mean", max if better_direction(metric) == "higher" else min
    top = pick(best.values(), key=lambda r: r[column]) if best else None
    ours = f"; the best cell here, {top['adapter']}/{top['selection']}, {fmt(top[column])}" if top else ""
    return f"Baselines on the same split and seeds, test {metric_name(metric)}: " + ", ".join(parts) + ours + "."
