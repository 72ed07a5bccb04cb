"""The report's first section: the answers in one screen, also written alone as headline.md.

What a reader quotes: each adapter's test MSE with no added data and in its best cell, the PEFT-to-full test-MSE
ratio with its paired bootstrap interval, the selections whose interval against `none` excludes 0, the two training
routes, and the baselines trained on the same split.
"""

from __future__ import annotations

import polars as pl

from molpeft_cli.report.analysis import Analysis, best_rows
from molpeft_cli.report.document import Bullets, Cell, Paragraph, Section, Strong, Table, fmt, fmt_count, fmt_mean_sd
from molpeft_cli.report.results_sections import route_meaning

TITLE = "Headline"


def headline_section(analysis: Analysis) -> Section:
    data, summary = analysis.data, analysis.main_summary()
    n_seeds = len(data.seeds)
    best = {row["adapter"]: row for row in best_rows(summary)}
    rows: list[list[Cell]] = []
    for adapter in data.adapters():
        none = _summary_row(summary, adapter, "none")
        cell = best.get(adapter)
        rows.append([
            adapter,
            fmt_count(summary.filter(pl.col("adapter") == adapter)["trainable_params"].max()),
            _mse_text(none, n_seeds) if none else "–",
            f"{_mse_text(cell, n_seeds)} ({cell['selection']})" if cell else "–",
            "1 (reference)" if adapter == "full" else _ratio_text(analysis, "same selection", adapter, "none"),
            "1 (reference)" if adapter == "full" else _ratio_text(analysis, "best cells", adapter),
        ])
    seeds = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    blocks = [
        Table(["adapter", "trainable params", "test MSE, no added data", "best cell (selection)",
               "÷ full, no added data [95% CI]", "÷ full, best cells [95% CI]"], rows,
              caption=f"Two-stage cells (MLM, then supervised), test MSE mean ± sd over {seeds}. A ratio divides the "
                      "adapter's test MSE by full fine-tuning's on the same seeds and test molecules (below 1: the "
                      "adapter is better); its interval is a paired two-level bootstrap. \"Best cell\" is chosen on "
                      "the test MSE itself, so it flatters every adapter alike; the no-added-data column is the "
                      "unselected comparison."),
        Bullets([_selections_text(analysis), _route_text(analysis), _baselines_text(analysis, best)]),
    ]
    if n_seeds == 1:
        blocks.insert(0, Paragraph("One seed: the intervals cover test-molecule sampling only, not training noise."))
    return Section(TITLE, blocks)


def _mse_text(row: dict, n_seeds: int) -> str:
    text = fmt_mean_sd(row["mse_mean"], row["mse_sd"])
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
    return Strong(text) if row["ci_high"] < 1 else text


def _selections_text(analysis: Analysis) -> str:
    differences = analysis.differences
    if differences is None or not differences.height:
        return "Selections against no added data: no cell could be paired with its adapter's `none` cell."
    known = differences.filter(pl.col("ci_low").is_not_null())
    better = known.filter(pl.col("ci_high") < 0)
    worse = known.filter(pl.col("ci_low") > 0)

    def names(table: pl.DataFrame) -> str:
        return "; ".join(f"{r['adapter']}/{r['selection']} {fmt(r['delta_mse'], 3)} [{fmt(r['ci_low'], 3)}, "
                         f"{fmt(r['ci_high'], 3)}]" for r in table.iter_rows(named=True))

    text = (f"Selections that beat no added data (ΔMSE to the adapter's `none` cell, 95% CI below 0), of "
            f"{known.height} compared: " + (names(better) if better.height else "none") + ".")
    if worse.height:
        text += " Worse than no added data (CI above 0): " + names(worse) + "."
    return text


def _route_text(analysis: Analysis) -> str:
    interval = analysis.finetuning
    if interval is None:
        return "Two-stage vs direct fine-tuning: not in this run (no paired full/none cells of both routes)."
    meaning = route_meaning(interval)
    return (f"Two-stage (MLM, then supervised) minus direct, full fine-tuning with no added "
            f"data: ΔMSE {fmt(interval.estimate, 3)} [{fmt(interval.low, 3)}, {fmt(interval.high, 3)}] over "
            f"{interval.n_seeds} seed(s): {meaning}.")


def _baselines_text(analysis: Analysis, best: dict[str, dict]) -> str:
    parts = []
    if analysis.baseline_mse is not None:
        sd = analysis.baseline["mse"].std() if analysis.baseline.height > 1 else None
        parts.append(f"random forest on Morgan counts {fmt_mean_sd(analysis.baseline_mse, sd)}")
    if analysis.chemprop_mse is not None:
        sd = analysis.chemprop["mse"].std() if analysis.chemprop.height > 1 else None
        parts.append(f"chemprop D-MPNN {fmt_mean_sd(analysis.chemprop_mse, sd)}")
    if not parts:
        return "Baselines: none in this report (see the notes)."
    top = min(best.values(), key=lambda r: r["mse_mean"]) if best else None
    ours = f"; the best cell here, {top['adapter']}/{top['selection']}, {fmt(top['mse_mean'])}" if top else ""
    return "Baselines on the same split and seeds, test MSE: " + ", ".join(parts) + ours + "."
