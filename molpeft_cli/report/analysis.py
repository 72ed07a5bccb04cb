"""Everything the report shows, computed once from the collected run: summaries, intervals and the baseline."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from molpeft_cli.errors import MolpeftError
from molpeft_cli.report.baseline import ForestConfig, baseline_params, forest_baselines
from molpeft_cli.report.budgets import budget_table
from molpeft_cli.report.chemprop_baseline import ChempropConfig
from molpeft_cli.report.collect import DIRECT_VARIANT, MAIN_VARIANT, RunData
from molpeft_cli.report.stats import (
    N_RESAMPLES,
    Interval,
    cell_summary,
    compare_cells,
    differences_to_none,
    ratios_to_full,
)
from molpeft_cli.tasks import HIGHER_IS_BETTER

log = logging.getLogger(__name__)


@dataclass
class ReportOptions:
    n_resamples: int = N_RESAMPLES
    seed: int = 0  # seeds the bootstrap
    baseline: bool = True
    forest: ForestConfig = field(default_factory=ForestConfig)
    influence_check: str | None = None  # `molpeft influence-check` table (default: RUN_DIR/scores/influence-check)
    chemprop: bool = True  # the D-MPNN baseline, when chemprop is installed
    chemprop_config: ChempropConfig = field(default_factory=ChempropConfig)

    def __post_init__(self) -> None:
        if self.n_resamples < 100:
            raise MolpeftError(f"use at least 100 bootstrap resamples, got {self.n_resamples}")


@dataclass
class Analysis:
    data: RunData
    options: ReportOptions
    summary: pl.DataFrame  # cell_summary of every variant
    differences: pl.DataFrame  # two-stage cells against the same adapter's `none` cell
    finetuning: Interval | None  # two-stage minus direct, full fine-tuning, selection none
    ratios: pl.DataFrame | None = None  # PEFT main metric over full fine-tuning's (same selection; best cells)
    budgets: pl.DataFrame | None = None  # budget curves and differences to random (when a strategy had several)
    baseline: pl.DataFrame | None = None  # one RF metrics row per seed
    baseline_predictions: dict[int, pl.DataFrame] = field(default_factory=dict)
    baseline_note: str = ""
    chemprop: pl.DataFrame | None = None  # one chemprop D-MPNN metrics row per seed
    chemprop_predictions: dict[int, pl.DataFrame] = field(default_factory=dict)
    chemprop_note: str = ""

    def main_summary(self) -> pl.DataFrame:
        return self.summary.filter(pl.col("variant") == self.data.main_variant)

    @property
    def task(self) -> str:
        return self.data.task

    @property
    def metric(self) -> str:
        """The main metric (mse; roc_auc): the matrix, differences, ratios and every ranking are in it."""
        return self.data.metric

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    @property
    def baseline_value(self) -> float | None:
        """The random forest's main metric, mean over seeds."""
        return _mean(self.baseline, self.metric)

    @property
    def chemprop_value(self) -> float | None:
        return _mean(self.chemprop, self.metric)

    def better(self, a: float, b: float) -> bool:
        """Whether main-metric value `a` is strictly better than `b`."""
        return a > b if self.higher_is_better else a < b


def _mean(table: pl.DataFrame | None, column: str) -> float | None:
    if table is None or not table.height or column not in table.columns:
        return None
    return float(table[column].mean())


def best_rows(main_summary: pl.DataFrame, metric: str = "mse") -> list[dict]:
    """The summary row with the best mean of `metric` per adapter (lowest test MSE, highest ROC-AUC; on a tie, the
    first in the summary's order)."""
    column, higher = f"{metric}_mean", HIGHER_IS_BETTER[metric]
    best: dict[str, dict] = {}
    for row in main_summary.filter(pl.col(column).is_not_null()).iter_rows(named=True):
        current = best.get(row["adapter"])
        if current is None or (row[column] > current[column] if higher else row[column] < current[column]):
            best[row["adapter"]] = row
    return list(best.values())


def analyse(data: RunData, options: ReportOptions) -> Analysis:
    log.info(f"comparing {data.metrics.height} evaluated cells over {len(data.seeds)} seed(s) "
         f"({options.n_resamples} bootstrap resamples)")
    analysis = Analysis(
        data=data, options=options, summary=cell_summary(data.metrics, data.task),
        differences=differences_to_none(data, options.n_resamples, options.seed),
        finetuning=compare_cells(data.cell_predictions(MAIN_VARIANT, "full", "none"),
                                 data.cell_predictions(DIRECT_VARIANT, "full", "none"),
                                 "full/none two-stage-direct", options.n_resamples, options.seed, data.task),
    )
    best = {row["adapter"]: row["selection"] for row in best_rows(analysis.main_summary(), data.metric)}
    analysis.ratios = ratios_to_full(data, best, options.n_resamples, options.seed)
    analysis.budgets = budget_table(data, options.n_resamples, options.seed)
    _add_baseline(analysis, data.run_dir)
    _add_chemprop(analysis, data.run_dir)
    return analysis


def _add_chemprop(analysis: Analysis, run_dir: Path) -> None:
    from molpeft_cli.report.baseline import cached_baselines
    from molpeft_cli.report.chemprop_baseline import CHEMPROP_NAME, chemprop_available, fit_chemprop

    options, data = analysis.options, analysis.data
    if not options.chemprop:
        analysis.chemprop_note = "the chemprop D-MPNN baseline was switched off for this report"
        return
    if not chemprop_available():
        analysis.chemprop_note = ("chemprop is not installed, so no D-MPNN baseline (pip install "
                                  "'molpeft[chemprop]' adds it)")
        return
    if data.split is None or _split_problem(data) is not None:
        analysis.chemprop_note = f"no usable {_split_name(data)}, so no chemprop D-MPNN baseline"
        return
    config = options.chemprop_config
    log.info(f"chemprop D-MPNN baseline ({config.epochs} epochs) for seed(s) {', '.join(map(str, data.seeds))}; "
         f"cached in {run_dir / 'baseline'}")
    try:
        analysis.chemprop, analysis.chemprop_predictions = cached_baselines(
            run_dir, data.split_path, data.seeds, CHEMPROP_NAME, baseline_params(config, data.task),
            lambda split, seed: fit_chemprop(split, seed, config, data.task))
    except MolpeftError as exc:
        log.warning(str(exc))
        analysis.chemprop_note = str(exc)


def _split_name(data: RunData) -> str:
    """How the notes name the split table: data/split.parquet in a run directory, else its path."""
    standard = data.run_dir / "data" / "split.parquet"
    return "data/split.parquet" if data.split_path in (None, standard) else str(data.split_path)


def _split_problem(data: RunData) -> str | None:
    """Why the split table cannot train a baseline, or None."""
    missing = [c for c in ("mol_id", "smiles_canonical", "label", "split") if c not in data.split.columns]
    return f"{_split_name(data)} lacks {', '.join(missing)}" if missing else None


def _add_baseline(analysis: Analysis, run_dir: Path) -> None:
    options, data = analysis.options, analysis.data
    if not options.baseline:
        analysis.baseline_note = "the random-forest baseline was switched off for this report"
        return
    if data.split is None:
        analysis.baseline_note = f"no readable {_split_name(data)}, so no random-forest baseline"
        return
    problem = _split_problem(data)
    if problem:
        analysis.baseline_note = f"{problem}, so no random-forest baseline"
        return
    log.info(f"random-forest baseline ({options.forest.n_trees} trees) for seed(s) "
         f"{', '.join(map(str, data.seeds))}; cached in {run_dir / 'baseline'}")
    try:
        analysis.baseline, analysis.baseline_predictions = forest_baselines(run_dir, data.split_path, data.seeds,
                                                                            options.forest, data.task)
    except MolpeftError as exc:  # a baseline problem should not cost the user the whole report
        log.warning(str(exc))
        analysis.baseline_note = str(exc)
