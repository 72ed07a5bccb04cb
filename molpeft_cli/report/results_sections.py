"""Report sections on the fine-tuning results: the MSE matrix, intervals, trade-offs, parity, training route."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from molpeft_cli.report import figures
from molpeft_cli.report.analysis import Analysis, best_rows
from molpeft_cli.report.collect import DIRECT_VARIANT, MAIN_VARIANT
from molpeft_cli.report.document import (
    Cell,
    Figure,
    Paragraph,
    Section,
    Strong,
    Table,
    fmt,
    fmt_count,
    fmt_mean_sd,
)
from molpeft_cli.report.stats import Interval

NOT_RUN = "–"
NOT_CONVERGED_MARK = "‡"


def _row(summary: pl.DataFrame, adapter: str, selection: str, variant: str = MAIN_VARIANT) -> dict | None:
    rows = summary.filter((pl.col("variant") == variant) & (pl.col("adapter") == adapter)
                          & (pl.col("selection") == selection))
    return rows.row(0, named=True) if rows.height else None


def best_cells(analysis: Analysis) -> dict[str, dict]:
    """The lowest mean test MSE per adapter (two-stage)."""
    return {row["adapter"]: row for row in best_rows(analysis.main_summary())}


def matrix_section(analysis: Analysis, figures_dir: Path) -> Section:
    data = analysis.data
    adapters, selections = data.adapters(), data.selection_names()
    summary, best = analysis.main_summary(), best_cells(analysis)
    n_seeds = len(data.seeds)
    rows: list[list[Cell]] = []
    partial = summary.filter(pl.col("n_seeds") < n_seeds).height > 0
    any_unconverged = False
    for adapter in adapters:
        cells: list[Cell] = [adapter]
        for selection in selections:
            row = _row(summary, adapter, selection)
            if row is None:
                cells.append(NOT_RUN)
                continue
            text = fmt_mean_sd(row["mse_mean"], row["mse_sd"])
            if row["n_seeds"] != n_seeds:
                text += f" [{row['n_seeds']} seed{'s' if row['n_seeds'] > 1 else ''}]"
            text += convergence_mark(row)
            any_unconverged = any_unconverged or bool(convergence_mark(row))
            cells.append(Strong(text) if best.get(adapter, {}).get("selection") == selection else text)
        rows.append(cells)
    if analysis.baseline_mse is not None:
        sd = analysis.baseline["mse"].std() if analysis.baseline.height > 1 else None
        rows.append([f"RF baseline ({analysis.options.forest.n_trees} trees)"]
                    + [fmt_mean_sd(analysis.baseline_mse, sd) if s == "none" else "" for s in selections])
    if analysis.chemprop_mse is not None:
        sd = analysis.chemprop["mse"].std() if analysis.chemprop.height > 1 else None
        rows.append([f"chemprop D-MPNN ({analysis.options.chemprop_config.epochs} epochs)"]
                    + [fmt_mean_sd(analysis.chemprop_mse, sd) if s == "none" else "" for s in selections])
    marked = [s + " †" if s == "influence" and data.test_target_sources else s for s in selections]
    blocks = [
        Table(["adapter \\ selection", *marked], rows,
              caption="Test MSE, mean ± sd over seeds (two-stage: MLM, then supervised). Bold: best in the row. "
                      f"{NOT_RUN}: not in this run."
                      + (f" [k seeds]: a cell with fewer seeds than the run's {n_seeds}." if partial else "")
                      + (f" {NOT_CONVERGED_MARK}: training did not converge (early stopping had not fired when "
                         "--max-epochs ran out; with several seeds: in how many), so the MSE may be under-trained."
                         if any_unconverged else "")
                      + (" †: influence computed against the TEST split (see the warning above)."
                         if data.test_target_sources else "")),
        Figure(figures.selection_lines(summary, adapters, selections, analysis.baseline_mse,
                                       figures_dir / "mse_by_selection.png"),
               "Test MSE by selection strategy, one line per adapter; error bars are the sd over seeds."),
    ]
    if n_seeds == 1:
        blocks.insert(0, Paragraph("This run has one seed, and one seed gives no spread: sd is n/a."))
    return Section("Test MSE: adapter × selection", blocks)


def convergence_mark(row: dict) -> str:
    """'‡' after a cell whose training did not converge in some seed ('‡ k/n' with several seeds)."""
    known = row["n_seeds"] - (row.get("n_convergence_unknown") or 0)
    failed = known - (row.get("n_converged") or 0)
    if failed <= 0:
        return ""
    return f" {NOT_CONVERGED_MARK}" + (f" {failed}/{row['n_seeds']}" if row["n_seeds"] > 1 else "")


def interval_text(low: float | None, high: float | None) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else "n/a"


def verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "n/a"
    return "better (lower MSE)" if high < 0 else "worse (higher MSE)" if low > 0 else "no clear change"


def statistics_section(analysis: Analysis) -> Section:
    opts, differences = analysis.options, analysis.differences
    rows: list[list[Cell]] = []
    for row in differences.iter_rows(named=True):
        ci = interval_text(row["ci_low"], row["ci_high"])
        rows.append([row["adapter"], row["selection"], fmt(row["delta_mse"], 4),
                     Strong(ci + " *") if row["excludes_zero"] else ci,
                     str(row["n_seeds"]), str(row["n_molecules"]),
                     verdict(row["ci_low"], row["ci_high"])])
    text = (f"ΔMSE = cell minus the same adapter's `none` cell (negative: the added data helped). The 95% interval "
            f"is a paired two-level percentile bootstrap ({opts.n_resamples} resamples, seed {opts.seed}): each "
            "resample draws seeds with replacement and, within each drawn seed, test molecules with replacement, "
            "pairing the two cells on seed and mol_id. Bold with *: the interval excludes 0.")
    if len(analysis.data.seeds) == 1:
        text += " With one seed the interval covers test-molecule sampling only, not training noise."
    if not rows:
        return Section("Statistics: differences to no added data",
                       [Paragraph("No cell could be paired with its adapter's `none` cell (none cell or "
                                  "predictions missing).")])
    return Section("Statistics: differences to no added data", [Paragraph(text), Table(
        ["adapter", "selection", "ΔMSE", "95% CI", "seeds", "test molecules", "verdict"], rows, text_columns=2)])


def tradeoff_section(analysis: Analysis, figures_dir: Path) -> Section:
    summary, best = analysis.main_summary(), best_cells(analysis)
    rows: list[list[Cell]] = []
    for adapter in analysis.data.adapters():
        part = summary.filter(pl.col("adapter") == adapter)
        trainable, total = part["trainable_params"].max(), part["total_params"].max()
        share = f"{100 * trainable / total:.3f}%" if trainable and total else "n/a"
        cell = best.get(adapter)
        rows.append([adapter, fmt_count(trainable), fmt_count(total), share,
                     fmt_mean_sd(part["train_seconds_mean"].mean(), part["train_seconds_sd"].mean(), 1),
                     f"{fmt(cell['mse_mean'])} ({cell['selection']})" if cell else "n/a"])
    blocks = [Table(["adapter", "trainable params", "total params", "trainable share", "train seconds (mean ± sd)",
                     "best test MSE (selection)"], rows,
                    caption="Training seconds averaged over the adapter's cells; sd is the mean per-cell sd.")]
    if summary["trainable_params"].drop_nulls().len():
        blocks.append(Figure(figures.tradeoff(summary, analysis.data.adapters(), figures_dir / "tradeoff.png"),
                             "Trainable parameters (log scale) against test MSE; colour = training time. "
                             "One point per adapter × selection cell."))
    return Section("Trainable parameters, test MSE and training time", blocks)


def parity_section(analysis: Analysis, figures_dir: Path) -> Section:
    data, panels = analysis.data, []
    for adapter, row in best_cells(analysis).items():
        predictions = data.cell_predictions(MAIN_VARIANT, adapter, row["selection"])
        if predictions:
            panels.append((f"{adapter} / {row['selection']} (MSE {fmt(row['mse_mean'])})",
                           pl.concat(list(predictions.values()))))
    if analysis.baseline_predictions:
        pooled = pl.concat([p.select("mol_id", "label", "prediction") for p in analysis.baseline_predictions.values()])
        panels.append((f"RF baseline (MSE {fmt(analysis.baseline_mse)})", pooled))
    if analysis.chemprop_predictions:
        pooled = pl.concat([p.select("mol_id", "label", "prediction") for p in analysis.chemprop_predictions.values()])
        panels.append((f"chemprop D-MPNN (MSE {fmt(analysis.chemprop_mse)})", pooled))
    if not panels:
        return Section("Parity plots", [Paragraph("No test predictions in this run.")])
    return Section("Parity plots", [Figure(figures.parity(panels, figures_dir / "parity.png"),
                                           "Prediction against label on the test split for the best cell per adapter "
                                           "(all seeds pooled); dashed: the diagonal.")])


def finetuning_section(analysis: Analysis, figures_dir: Path) -> Section:
    metrics = analysis.data.metrics.filter((pl.col("adapter") == "full") & (pl.col("selection") == "none"))
    routes = {v: dict(metrics.filter(pl.col("variant") == v).select("seed", "mse").iter_rows())
              for v in (DIRECT_VARIANT, MAIN_VARIANT)}
    title = "Fine-tuning route: direct supervised vs two-stage (full fine-tuning, selection none)"
    if not routes[DIRECT_VARIANT] or not routes[MAIN_VARIANT]:
        lacking = " and ".join(v for v, seeds in routes.items() if not seeds)
        return Section(title, [Paragraph(f"Not available: no {lacking} full/none cell in this run.")])
    rows: list[list[Cell]] = []
    for seed in sorted(set(routes[DIRECT_VARIANT]) | set(routes[MAIN_VARIANT])):
        direct, two_stage = routes[DIRECT_VARIANT].get(seed), routes[MAIN_VARIANT].get(seed)
        both = direct is not None and two_stage is not None
        rows.append([str(seed), fmt(direct), fmt(two_stage), fmt(two_stage - direct if both else None, 4)])
    means = {v: pl.Series(list(r.values())) for v, r in routes.items()}
    rows.append(["mean ± sd", *(fmt_mean_sd(means[v].mean(), means[v].std() if len(means[v]) > 1 else None)
                                for v in (DIRECT_VARIANT, MAIN_VARIANT)), ""])
    return Section(title, [
        Table(["seed", "direct MSE", "two-stage MSE", "two-stage − direct"], rows),
        Paragraph(_finetuning_verdict(analysis.finetuning)),
        Figure(figures.paired_seeds(routes[DIRECT_VARIANT], routes[MAIN_VARIANT], ("direct", "two-stage"),
                                    figures_dir / "finetuning_route.png"),
               "Test MSE per seed for the two training routes; lines join the same seed."),
    ])


def _finetuning_verdict(interval: Interval | None) -> str:
    if interval is None:
        return "No paired test predictions, so no confidence interval for the difference."
    meaning = route_meaning(interval)
    ci = interval_text(interval.low, interval.high)
    return (f"Two-stage minus direct ΔMSE {fmt(interval.estimate, 4)}, 95% CI {ci}"
            f" over {interval.n_seeds} seed(s) × {interval.n_molecules} test molecules (paired bootstrap): {meaning}.")


def route_meaning(interval: Interval) -> str:
    """What a two-stage minus direct interval says about the MLM stage."""
    return ("the MLM stage helped" if interval.high < 0 else "the MLM stage hurt" if interval.low > 0
            else "no clear difference")
