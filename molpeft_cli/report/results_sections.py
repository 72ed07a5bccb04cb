"""Report sections on the fine-tuning results: the main-metric matrix (test MSE; ROC-AUC for classification),
intervals, trade-offs, parity (ROC and calibration curves for classification), training route."""

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
    fmt_p,
)
from molpeft_cli.report.stats import NO_CLEAR, ONE_SEED, Interval
from molpeft_cli.report.wording import (
    ROUTES,
    WHY_ROC_AUC,
    better_direction,
    interval_better,
    interval_worse,
    metric_name,
)
from molpeft_cli.tasks import CLASSIFICATION

NOT_RUN = "–"
NOT_CONVERGED_MARK = "‡"


def _row(summary: pl.DataFrame, adapter: str, selection: str, variant: str = MAIN_VARIANT) -> dict | None:
    rows = summary.filter((pl.col("variant") == variant) & (pl.col("adapter") == adapter)
                          & (pl.col("selection") == selection))
    return rows.row(0, named=True) if rows.height else None


def best_cells(analysis: Analysis) -> dict[str, dict]:
    """The best mean test score per adapter (lowest MSE; highest ROC-AUC), in the report's route."""
    return {row["adapter"]: row for row in best_rows(analysis.main_summary(), analysis.metric)}


def _baseline_cell(analysis: Analysis, table: pl.DataFrame, mean: float) -> str:
    sd = table[analysis.metric].std() if table.height > 1 else None
    return fmt_mean_sd(mean, sd)


def matrix_section(analysis: Analysis, figures_dir: Path) -> Section:
    data, metric = analysis.data, analysis.metric
    name = metric_name(metric)
    adapters, selections = data.adapters(), data.selection_names()
    summary, best = analysis.main_summary(), best_cells(analysis)
    n_seeds = len(data.seeds)
    rows: list[list[Cell]] = []
    partial = summary.filter(pl.col("n_seeds") < n_seeds).height > 0
    any_unconverged = False
    for adapter in adapters:
        cells: list[Cell] = [adapter]
        for selection in selections:
            row = _row(summary, adapter, selection, data.main_variant)
            if row is None:
                cells.append(NOT_RUN)
                continue
            text = fmt_mean_sd(row[f"{metric}_mean"], row[f"{metric}_sd"])
            if row["n_seeds"] != n_seeds:
                text += f" [{row['n_seeds']} seed{'s' if row['n_seeds'] > 1 else ''}]"
            text += convergence_mark(row)
            any_unconverged = any_unconverged or bool(convergence_mark(row))
            cells.append(Strong(text) if best.get(adapter, {}).get("selection") == selection else text)
        rows.append(cells)
    if analysis.baseline_value is not None:
        cell = _baseline_cell(analysis, analysis.baseline, analysis.baseline_value)
        rows.append([f"RF {'classifier' if analysis.task == CLASSIFICATION else 'baseline'} "
                     f"({analysis.options.forest.n_trees} trees)"] + [cell if s == "none" else "" for s in selections])
    if analysis.chemprop_value is not None:
        cell = _baseline_cell(analysis, analysis.chemprop, analysis.chemprop_value)
        rows.append([f"chemprop D-MPNN ({analysis.options.chemprop_config.epochs} epochs)"]
                    + [cell if s == "none" else "" for s in selections])
    marked = [s + " †" if s == "influence" and data.test_target_sources else s for s in selections]
    best_word = "best in the row" if metric == "mse" else f"best in the row ({better_direction(metric)})"
    blocks = [
        Table(["adapter \\ selection", *marked], rows,
              caption=f"Test {name}, mean ± sd over seeds ({ROUTES[data.main_variant]}). Bold: {best_word}. "
                      f"{NOT_RUN}: not in this run."
                      + (f" [k seeds]: a cell with fewer seeds than the run's {n_seeds}." if partial else "")
                      + (f" {NOT_CONVERGED_MARK}: training did not converge (early stopping had not fired when "
                         f"--max-epochs ran out; with several seeds: in how many), so the {name} may be "
                         "under-trained." if any_unconverged else "")
                      + (" †: influence computed against the TEST split (see the warning above)."
                         if data.test_target_sources else "")),
        Figure(figures.selection_lines(summary, adapters, selections, analysis.baseline_value,
                                       figures_dir / f"{metric}_by_selection.png", metric),
               f"Test {name} by selection strategy, one line per adapter; error bars are the sd over seeds."),
    ]
    if n_seeds == 1:
        blocks.insert(0, Paragraph("This run has one seed, and one seed gives no spread: sd is n/a."))
    if analysis.task == CLASSIFICATION:
        blocks.insert(0, Paragraph(WHY_ROC_AUC))
    return Section(f"Test {name}: adapter × selection", blocks)


def convergence_mark(row: dict) -> str:
    """'‡' after a cell whose training did not converge in some seed ('‡ k/n' with several seeds)."""
    known = row["n_seeds"] - (row.get("n_convergence_unknown") or 0)
    failed = known - (row.get("n_converged") or 0)
    if failed <= 0:
        return ""
    return f" {NOT_CONVERGED_MARK}" + (f" {failed}/{row['n_seeds']}" if row["n_seeds"] > 1 else "")


def interval_text(low: float | None, high: float | None) -> str:
    return f"[{fmt(low)}, {fmt(high)}]" if low is not None and high is not None else "n/a"


def verdict(low: float | None, high: float | None, metric: str = "mse") -> str:
    """What an interval alone says (no correction for multiplicity): better, worse or no clear change."""
    if low is None or high is None or low != low or high != high:
        return "n/a"
    name = metric_name(metric)
    up, down = ("higher", "lower") if better_direction(metric) == "higher" else ("lower", "higher")
    if interval_better(low, high, metric):
        return f"better ({up} {name})"
    return f"worse ({down} {name})" if interval_worse(low, high, metric) else "no clear change"


def corrected_verdict(row: dict, metric: str = "mse") -> str:
    """The differences table's verdict (Holm-corrected, at least 2 seeds) in words."""
    name, label = metric_name(metric), row.get("verdict")
    up, down = ("higher", "lower") if better_direction(metric) == "higher" else ("lower", "higher")
    return {"better": f"better ({up} {name})", "worse": f"worse ({down} {name})", NO_CLEAR: "no clear change",
            ONE_SEED: ONE_SEED}.get(label, "n/a")


HOLM_TEXT = (" p: the two-sided bootstrap p-value from the same resampled differences, 2 × the smaller share of "
             "resamples on either side of 0 (each counted + 1, over resamples + 1); Holm: adjusted by Holm's "
             "step-down procedure over all {m} comparisons of this table. The verdict needs at least 2 seeds, a Holm "
             "p below 0.05 and an interval that excludes 0; bold with *: a verdict holds.")


def statistics_section(analysis: Analysis) -> Section:
    opts, differences, metric = analysis.options, analysis.differences, analysis.metric
    name = metric_name(metric)
    rows: list[list[Cell]] = []
    for row in differences.iter_rows(named=True):
        ci = interval_text(row["ci_low"], row["ci_high"])
        holds = row.get("verdict") in ("better", "worse")
        rows.append([row["adapter"], row["selection"], fmt(row[f"delta_{metric}"], 4),
                     Strong(ci + " *") if holds else ci, fmt_p(row.get("p_value")), fmt_p(row.get("p_holm")),
                     str(row["n_seeds"]), str(row["n_molecules"]), corrected_verdict(row, metric)])
    helped = "positive" if better_direction(metric) == "higher" else "negative"
    recomputed = (" ROC-AUC is recomputed on every resample's molecules (it is not a mean over molecules); a "
                  "resample with one class only has none and is left out." if metric == "roc_auc" else "")
    text = (f"Δ{name} = cell minus the same adapter's `none` cell ({helped}: the added data helped). The 95% "
            f"interval is a paired two-level percentile bootstrap ({opts.n_resamples} resamples, seed {opts.seed}): "
            "each resample draws seeds with replacement and, within each drawn seed, test molecules with "
            "replacement, pairing the two cells on seed and mol_id." + recomputed)
    if metric == "mse":  # the wording of reports made before classification existed
        text = (f"ΔMSE = cell minus the same adapter's `none` cell (negative: the added data helped). The 95% "
                f"interval is a paired two-level percentile bootstrap ({opts.n_resamples} resamples, seed "
                f"{opts.seed}): each resample draws seeds with replacement and, within each drawn seed, test "
                "molecules with replacement, pairing the two cells on seed and mol_id.")
    text += HOLM_TEXT.format(m=differences.filter(pl.col("p_value").is_not_null()).height if rows else 0)
    if len(analysis.data.seeds) == 1:
        text += (" With one seed the interval covers test-molecule sampling only, not training noise, and one seed "
                 "cannot separate the strategies: no verdict.")
    if not rows:
        return Section("Statistics: differences to no added data",
                       [Paragraph("No cell could be paired with its adapter's `none` cell (none cell or "
                                  "predictions missing).")])
    return Section("Statistics: differences to no added data", [Paragraph(text), Table(
        ["adapter", "selection", f"Δ{name}", "95% CI", "p", "p (Holm)", "seeds", "test molecules", "verdict"], rows,
        text_columns=2)])


def tradeoff_section(analysis: Analysis, figures_dir: Path) -> Section:
    summary, best, metric = analysis.main_summary(), best_cells(analysis), analysis.metric
    name = metric_name(metric)
    rows: list[list[Cell]] = []
    for adapter in analysis.data.adapters():
        part = summary.filter(pl.col("adapter") == adapter)
        trainable, total = part["trainable_params"].max(), part["total_params"].max()
        share = f"{100 * trainable / total:.3f}%" if trainable and total else "n/a"
        cell = best.get(adapter)
        rows.append([adapter, fmt_count(trainable), fmt_count(total), share,
                     fmt_mean_sd(part["train_seconds_mean"].mean(), part["train_seconds_sd"].mean(), 1),
                     f"{fmt(cell[f'{metric}_mean'])} ({cell['selection']})" if cell else "n/a"])
    blocks = [Table(["adapter", "trainable params", "total params", "trainable share", "train seconds (mean ± sd)",
                     f"best test {name} (selection)"], rows,
                    caption="Training seconds averaged over the adapter's cells; sd is the mean per-cell sd.")]
    if summary["trainable_params"].drop_nulls().len():
        blocks.append(Figure(figures.tradeoff(summary, analysis.data.adapters(), figures_dir / "tradeoff.png",
                                              metric),
                             f"Trainable parameters (log scale) against test {name}; colour = training time. "
                             "One point per adapter × selection cell."))
    return Section(f"Trainable parameters, test {name} and training time", blocks)


def parity_section(analysis: Analysis, figures_dir: Path) -> Section:
    """Parity plots (regression), or ROC and calibration curves (classification), of each adapter's best cell
    and the baselines, on the test split with all seeds pooled."""
    data, panels, metric = analysis.data, [], analysis.metric
    name = metric_name(metric)
    for adapter, row in best_cells(analysis).items():
        predictions = data.cell_predictions(data.main_variant, adapter, row["selection"])
        if predictions:
            panels.append((f"{adapter} / {row['selection']} ({name} {fmt(row[f'{metric}_mean'])})",
                           pl.concat(list(predictions.values()))))
    forest = "RF classifier" if analysis.task == CLASSIFICATION else "RF baseline"
    if analysis.baseline_predictions:
        pooled = pl.concat([p.select("mol_id", "label", "prediction") for p in analysis.baseline_predictions.values()])
        panels.append((f"{forest} ({name} {fmt(analysis.baseline_value)})", pooled))
    if analysis.chemprop_predictions:
        pooled = pl.concat([p.select("mol_id", "label", "prediction") for p in analysis.chemprop_predictions.values()])
        panels.append((f"chemprop D-MPNN ({name} {fmt(analysis.chemprop_value)})", pooled))
    if analysis.task == CLASSIFICATION:
        return _curves_section(panels, figures_dir)
    if not panels:
        return Section("Parity plots", [Paragraph("No test predictions in this run.")])
    return Section("Parity plots", [Figure(figures.parity(panels, figures_dir / "parity.png"),
                                           "Prediction against label on the test split for the best cell per adapter "
                                           "(all seeds pooled); dashed: the diagonal.")])


def _curves_section(panels: list[tuple[str, pl.DataFrame]], figures_dir: Path) -> Section:
    title = "ROC and calibration curves"
    if not panels:
        return Section(title, [Paragraph("No test predictions in this run.")])
    return Section(title, [
        Figure(figures.roc_curves(panels, figures_dir / "roc.png"),
               "ROC curves on the test split for the best cell per adapter and the baselines (all seeds pooled, so "
               "the pooled curve's area can differ slightly from the mean of the per-seed ROC-AUCs in the matrix); "
               "dashed: chance."),
        Figure(figures.calibration(panels, figures_dir / "calibration.png"),
               f"Calibration (reliability) curves: the share of positives among the test molecules in each of "
               f"{figures.CALIBRATION_BINS} equal-width bins of predicted probability, against the bin's mean "
               "probability (bins with molecules only; all seeds pooled). On the diagonal: the probabilities mean "
               "what they say; below it: over-confident of the positive class."),
    ])


def finetuning_section(analysis: Analysis, figures_dir: Path) -> Section:
    metric = analysis.metric
    name = metric_name(metric)
    metrics = analysis.data.metrics.filter((pl.col("adapter") == "full") & (pl.col("selection") == "none"))
    routes = {v: dict(metrics.filter(pl.col("variant") == v).select("seed", metric).iter_rows())
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
        Table(["seed", f"direct {name}", f"two-stage {name}", "two-stage − direct"], rows),
        Paragraph(_finetuning_verdict(analysis.finetuning, metric)),
        Figure(figures.paired_seeds(routes[DIRECT_VARIANT], routes[MAIN_VARIANT], ("direct", "two-stage"),
                                    figures_dir / "finetuning_route.png", metric),
               f"Test {name} per seed for the two training routes; lines join the same seed."),
    ])


def _finetuning_verdict(interval: Interval | None, metric: str = "mse") -> str:
    if interval is None:
        return "No paired test predictions, so no confidence interval for the difference."
    meaning = route_meaning(interval, metric)
    ci = interval_text(interval.low, interval.high)
    return (f"Two-stage minus direct Δ{metric_name(metric)} {fmt(interval.estimate, 4)}, 95% CI {ci}"
            f" over {interval.n_seeds} seed(s) × {interval.n_molecules} test molecules (paired bootstrap): {meaning}.")


def route_meaning(interval: Interval, metric: str = "mse") -> str:
    """What a two-stage minus direct interval says about the MLM stage."""
    return ("the MLM stage helped" if interval_better(interval.low, interval.high, metric)
            else "the MLM stage hurt" if interval_worse(interval.low, interval.high, metric)
            else "no clear difference")
