"""Statistics over seeds: per-cell mean and spread, paired bootstrap confidence intervals, selection overlap.

The confidence interval of a difference in the task's main metric between two cells is a two-level (hierarchical)
percentile bootstrap: each resample draws the seeds with replacement, and within every drawn seed draws the test
molecules with replacement; the two cells are paired on seed and mol_id. For regression each resample averages the
per-molecule differences of squared errors (test MSE is a mean over molecules); for classification ROC-AUC is not
a mean over molecules, so each resample recomputes both cells' ROC-AUC on the drawn molecules (a resample with one
class only has no ROC-AUC and is left out of the percentiles). One seed leaves only the molecule level.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import polars as pl

from molpeft_cli.report.collect import RunData
from molpeft_cli.tasks import CLASSIFICATION, HIGHER_IS_BETTER, MAIN_METRIC, METRICS, REGRESSION

N_RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean over seeds of the mean per-molecule difference
    low: float
    high: float
    n_seeds: int
    n_molecules: int  # paired test molecules per seed (the smallest, if seeds differ)
    p_value: float | None = None  # two-sided bootstrap p-value of a difference (None for ratios)

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


SUMMARY_COUNTS = ("n", "n_positive")  # counts, not scores: not averaged in the summary


def cell_summary(metrics: pl.DataFrame, task: str = REGRESSION) -> pl.DataFrame:
    """Mean and sd over seeds per (variant, adapter, selection) of the task's main metric, the means of its other
    metrics; sd is null with one seed (no spread); how many seeds converged (and for how many it is unknown)."""
    if "converged" not in metrics.columns:
        metrics = metrics.with_columns(pl.lit(None, dtype=pl.Boolean).alias("converged"))
    main = MAIN_METRIC[task]
    others = [c for c in METRICS[task] if c not in SUMMARY_COUNTS and c != main]
    summary = metrics.group_by("variant", "adapter", "selection").agg(
        pl.len().alias("n_seeds"),
        pl.col("seed").sort().alias("seeds"),
        pl.col(main).mean().alias(f"{main}_mean"),
        pl.col(main).std(ddof=1).alias(f"{main}_sd"),
        *(pl.col(c).mean().alias(f"{c}_mean") for c in (*others, "train_seconds")),
        pl.col("train_seconds").std(ddof=1).alias("train_seconds_sd"),
        pl.col("trainable_params").max(), pl.col("total_params").max(),
        pl.col("converged").sum().alias("n_converged"),
        pl.col("converged").is_null().sum().alias("n_convergence_unknown"),
    )
    summary = summary.with_columns(
        pl.when(pl.col("n_seeds") > 1).then(pl.col(c)).otherwise(None).alias(c)
        for c in (f"{main}_sd", "train_seconds_sd")
    )
    return summary.sort("variant", "adapter", "selection")


def squared_error_differences(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame]
                              ) -> dict[int, np.ndarray]:
    """Per seed present in both: (pred_cell - y)^2 - (pred_ref - y)^2 for the test molecules both predicted."""
    return {seed: a - b for seed, (a, b) in paired_squared_errors(cell, reference).items()}


def _column_means(picked: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [values.mean(axis=1) for values in picked]


def _resampled(per_seed: Sequence[Sequence[np.ndarray]], n_resamples: int, seed: int,
               statistic: Callable[[Sequence[np.ndarray]], Sequence[np.ndarray]] = _column_means,
               width: int | None = None) -> list[np.ndarray]:
    """Two-level resampling: each resample draws the seeds with replacement, and within every drawn seed draws the
    molecules with replacement; the molecules drawn apply to all of a seed's paired arrays. `statistic` maps the
    drawn arrays (one row per resample) to `width` values per resample (default: each array's mean); returns, per
    value, its mean over the drawn seeds (one value per resample)."""
    rng = np.random.default_rng(seed)
    n_seeds = len(per_seed)
    width = len(per_seed[0]) if width is None else width
    drawn = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    totals = [np.zeros(n_resamples) for _ in range(width)]
    for slot in range(n_seeds):
        for index, arrays in enumerate(per_seed):
            rows = np.flatnonzero(drawn[:, slot] == index)
            if rows.size:  # each drawn seed gets its own resample of molecules
                picks = rng.integers(0, arrays[0].size, size=(rows.size, arrays[0].size))
                for total, values in zip(totals, statistic([a[picks] for a in arrays]), strict=True):
                    total[rows] += values
    return [total / n_seeds for total in totals]


def _resampled_means(per_seed: Sequence[Sequence[np.ndarray]], n_resamples: int, seed: int) -> list[np.ndarray]:
    """`_resampled` of each array's mean."""
    return _resampled(per_seed, n_resamples, seed)


def _percentiles(values: np.ndarray, level: float, drop_undefined: bool = False) -> tuple[float, float]:
    if drop_undefined:  # resamples where the statistic does not exist (ROC-AUC of one class)
        values = values[np.isfinite(values)]
        if not values.size:
            return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_p_value(resampled: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is 0" from the resampled differences (undefined resamples
    left out): 2 * the smaller tail share at 0, each tail counted with the +1 of Davison and Hinkley."""
    values = np.asarray(resampled, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan")
    below, above = (values <= 0).sum(), (values >= 0).sum()
    return float(min(1.0, 2.0 * (min(below, above) + 1) / (values.size + 1)))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment: sorted ascending, p_(i) becomes max over j <= i of min(1, (m - j + 1) p_(j)),
    m the number of comparisons with a p-value (None or NaN: not a comparison, kept None)."""
    known = [(p, i) for i, p in enumerate(p_values) if p is not None and p == p]
    m, adjusted, running = len(known), [None] * len(p_values), 0.0
    for rank, (p, i) in enumerate(sorted(known)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


ONE_SEED = "one seed: no verdict"
NO_CLEAR = "no clear difference"


def verdicts(table: pl.DataFrame, metric: str, alpha: float = 1.0 - LEVEL) -> pl.DataFrame:
    """`table` (with n_seeds, ci_low, ci_high, p_value) with p_holm (Holm over its rows) and verdict: better or
    worse (in the metric's direction) when at least 2 seeds, p_holm < alpha and the interval excludes 0 on that
    side; "one seed: no verdict" with one seed; "no clear difference" otherwise; null without an interval."""
    adjusted = holm(table["p_value"].to_list()) if table.height else []
    higher, labels = HIGHER_IS_BETTER[metric], []
    for row, p in zip(table.iter_rows(named=True), adjusted, strict=True):
        low, high = row["ci_low"], row["ci_high"]
        if p is None or low is None or high is None or low != low or high != high:
            labels.append(None)
        elif row["n_seeds"] < 2:
            labels.append(ONE_SEED)
        elif p < alpha and (low > 0 or high < 0):
            labels.append("better" if (low > 0) == higher else "worse")
        else:
            labels.append(NO_CLEAR)
    return table.with_columns(pl.Series("p_holm", adjusted, dtype=pl.Float64),
                              pl.Series("verdict", labels, dtype=pl.String))


def hierarchical_bootstrap(per_seed: Sequence[np.ndarray], n_resamples: int = N_RESAMPLES, seed: int = 0,
                           level: float = LEVEL) -> Interval:
    """Percentile interval of the mean over seeds of per-seed mean values, resampling seeds then values."""
    arrays = [np.asarray(a, dtype=np.float64) for a in per_seed if len(a)]
    if not arrays:
        raise ValueError("no paired values to bootstrap")
    (resampled,) = _resampled_means([(a,) for a in arrays], n_resamples, seed)
    low, high = _percentiles(resampled, level)
    return Interval(estimate=float(np.mean([a.mean() for a in arrays])), low=low, high=high,
                    n_seeds=len(arrays), n_molecules=min(a.size for a in arrays),
                    p_value=bootstrap_p_value(resampled))


def hierarchical_ratio_bootstrap(per_seed: Sequence[tuple[np.ndarray, np.ndarray]], n_resamples: int = N_RESAMPLES,
                                 seed: int = 0, level: float = LEVEL) -> Interval:
    """Percentile interval of mean(a) / mean(b), where each mean is over seeds of per-seed means and every seed's
    two arrays are paired element by element (the same resampled molecules enter both)."""
    pairs = [(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)) for a, b in per_seed if len(a)]
    if not pairs:
        raise ValueError("no paired values to bootstrap")
    if any(a.shape != b.shape for a, b in pairs):
        raise ValueError("a ratio needs the two cells' values paired one to one in every seed")
    numerator, denominator = _resampled_means(pairs, n_resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _percentiles(numerator / denominator, level)
    estimate = np.mean([a.mean() for a, _ in pairs]) / np.mean([b.mean() for _, b in pairs])
    return Interval(estimate=float(estimate), low=low, high=high, n_seeds=len(pairs),
                    n_molecules=min(a.size for a, _ in pairs))


def roc_auc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of every row of `scores` against the 0/1 `labels` of the same row (2-D arrays, or 1-D for one
    row): the Mann-Whitney U of the positives' ranks (ties share their mean rank, i.e. count one half), NaN for a
    row with one class only."""
    from scipy.stats import rankdata

    labels, scores = np.atleast_2d(labels), np.atleast_2d(np.asarray(scores, dtype=np.float64))
    positive = labels == 1
    n_pos = positive.sum(axis=1)
    n_neg = labels.shape[1] - n_pos
    out = np.empty(labels.shape[0])
    for start in range(0, labels.shape[0], 256):  # bound the memory of rankdata on many resamples
        rows = slice(start, start + 256)
        ranks = rankdata(scores[rows], axis=1)
        u = (ranks * positive[rows]).sum(axis=1) - n_pos[rows] * (n_pos[rows] + 1) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = u / (n_pos[rows] * n_neg[rows])
    out[(n_pos == 0) | (n_neg == 0)] = np.nan
    return out


def paired_probabilities(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame]
                         ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per seed present in both: the labels, the cell's and the reference's predicted probabilities (the
    `prediction` column, which classification tables set to the probability) on the molecules both predicted."""
    paired = {}
    for seed in sorted(set(cell) & set(reference)):
        joined = cell[seed].join(reference[seed].select("mol_id", pl.col("prediction").alias("reference")),
                                 on="mol_id", how="inner")
        if joined.height:
            paired[seed] = tuple(joined[c].to_numpy() for c in ("label", "prediction", "reference"))
    return paired


def _auc_pair(picked: Sequence[np.ndarray]) -> list[np.ndarray]:
    labels, cell, reference = picked
    return [roc_auc_rows(labels, cell), roc_auc_rows(labels, reference)]


def _auc_difference(picked: Sequence[np.ndarray]) -> list[np.ndarray]:
    cell, reference = _auc_pair(picked)
    return [cell - reference]


def auc_difference_bootstrap(per_seed: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                             n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL) -> Interval:
    """Percentile interval of the mean over seeds of ROC-AUC(cell) - ROC-AUC(reference), each seed given as
    (labels, cell probabilities, reference probabilities) paired by molecule; ROC-AUC recomputed per resample."""
    arrays = [tuple(np.asarray(a, dtype=np.float64) for a in triple) for triple in per_seed if len(triple[0])]
    if not arrays:
        raise ValueError("no paired values to bootstrap")
    (resampled,) = _resampled(arrays, n_resamples, seed, _auc_difference, width=1)
    low, high = _percentiles(resampled, level, drop_undefined=True)
    estimate = np.mean([roc_auc_rows(y, p)[0] - roc_auc_rows(y, r)[0] for y, p, r in arrays])
    return Interval(estimate=float(estimate), low=low, high=high, n_seeds=len(arrays),
                    n_molecules=min(a[0].size for a in arrays), p_value=bootstrap_p_value(resampled))


def auc_ratio_bootstrap(per_seed: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                        n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL) -> Interval:
    """Percentile interval of mean ROC-AUC(cell) / mean ROC-AUC(reference), means over seeds, paired as in
    `auc_difference_bootstrap`."""
    arrays = [tuple(np.asarray(a, dtype=np.float64) for a in triple) for triple in per_seed if len(triple[0])]
    if not arrays:
        raise ValueError("no paired values to bootstrap")
    numerator, denominator = _resampled(arrays, n_resamples, seed, _auc_pair, width=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _percentiles(numerator / denominator, level, drop_undefined=True)
    estimate = (np.mean([roc_auc_rows(y, p)[0] for y, p, _ in arrays])
                / np.mean([roc_auc_rows(y, r)[0] for y, _, r in arrays]))
    return Interval(estimate=float(estimate), low=low, high=high, n_seeds=len(arrays),
                    n_molecules=min(a[0].size for a in arrays))


def paired_squared_errors(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame]
                          ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per seed present in both: the squared errors of the cell and of the reference on the molecules both
    predicted, in the same order."""
    errors = {}
    for seed in sorted(set(cell) & set(reference)):
        joined = cell[seed].join(reference[seed].select("mol_id", pl.col("prediction").alias("reference")),
                                 on="mol_id", how="inner")
        if joined.height:
            y, p, r = (joined[c].to_numpy() for c in ("label", "prediction", "reference"))
            errors[seed] = ((p - y) ** 2, (r - y) ** 2)
    return errors


def _stream(seed: int, name: str) -> int:
    """The bootstrap seed of one comparison: from the report's seed and the comparison's name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


def mse_ratio(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame], name: str,
              n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval | None:
    """Test MSE of `cell` over that of `reference` (paired on seed and mol_id) with its bootstrap interval, or
    None without shared seeds and molecules. Seeded like `compare_cells`."""
    errors = paired_squared_errors(cell, reference)
    if not errors:
        return None
    return hierarchical_ratio_bootstrap(list(errors.values()), n_resamples, _stream(seed, name))


def metric_ratio(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame], name: str,
                 n_resamples: int = N_RESAMPLES, seed: int = 0, task: str = REGRESSION) -> Interval | None:
    """The task's main metric of `cell` over that of `reference`, with its paired bootstrap interval (test MSE
    for regression, ROC-AUC for classification); None without shared seeds and molecules."""
    if task == REGRESSION:
        return mse_ratio(cell, reference, name, n_resamples, seed)
    paired = paired_probabilities(cell, reference)
    return auc_ratio_bootstrap(list(paired.values()), n_resamples, _stream(seed, name)) if paired else None


def compare_cells(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame], name: str,
                  n_resamples: int = N_RESAMPLES, seed: int = 0, task: str = REGRESSION) -> Interval | None:
    """Paired difference in the task's main metric (cell minus reference: test MSE, or ROC-AUC), or None without
    shared seeds and molecules.

    The bootstrap stream is seeded from `seed` and the comparison's name, so a cell's interval does not depend
    on which other cells the run holds.
    """
    if task == CLASSIFICATION:
        paired = paired_probabilities(cell, reference)
        return auc_difference_bootstrap(list(paired.values()), n_resamples, _stream(seed, name)) if paired else None
    differences = squared_error_differences(cell, reference)
    if not differences:
        return None
    return hierarchical_bootstrap(list(differences.values()), n_resamples, _stream(seed, name))


def _auc_of_cell(picked: Sequence[np.ndarray]) -> list[np.ndarray]:
    labels, probabilities = picked
    return [roc_auc_rows(labels, probabilities)]


def cell_interval(cell: Mapping[int, pl.DataFrame], name: str, n_resamples: int = N_RESAMPLES, seed: int = 0,
                  task: str = REGRESSION, level: float = LEVEL) -> Interval | None:
    """One cell's main metric (mean over seeds of the test MSE, or ROC-AUC) with the same two-level percentile
    bootstrap as the differences (seeds, then test molecules); None without test predictions."""
    seeds = [cell[s] for s in sorted(cell) if cell[s].height]
    if not seeds:
        return None
    stream = _stream(seed, name)
    if task == REGRESSION:
        interval = hierarchical_bootstrap([((t["prediction"] - t["label"]) ** 2).to_numpy() for t in seeds],
                                          n_resamples, stream, level)
        return replace(interval, p_value=None)  # a p-value of "MSE = 0" means nothing
    arrays = [(t["label"].to_numpy().astype(np.float64), t["prediction"].to_numpy().astype(np.float64))
              for t in seeds]
    (resampled,) = _resampled(arrays, n_resamples, stream, _auc_of_cell, width=1)
    low, high = _percentiles(resampled, level, drop_undefined=True)
    estimate = float(np.mean([roc_auc_rows(y, p)[0] for y, p in arrays]))
    return Interval(estimate=estimate, low=low, high=high, n_seeds=len(arrays),
                    n_molecules=min(y.size for y, _ in arrays))


def differences_to_none(data: RunData, n_resamples: int = N_RESAMPLES, seed: int = 0) -> pl.DataFrame:
    """For every cell of the report's route (two-stage, or direct when no cell is two-stage), the difference in
    the main metric (ΔMSE, ΔROC-AUC) to the same adapter's `none` cell with its bootstrap interval."""
    rows, variant = [], data.main_variant
    for adapter in data.adapters():
        reference = data.cell_predictions(variant, adapter, "none")
        for selection in data.selection_names():
            cell = data.cell_predictions(variant, adapter, selection)
            if selection == "none" or not cell:
                continue
            interval = compare_cells(cell, reference, f"{adapter}/{selection}-none", n_resamples, seed, data.task)
            rows.append({"adapter": adapter, "selection": selection, **interval_fields(interval, data.metric)})
    table = pl.DataFrame(rows, schema=interval_schema(data.metric), strict=False)
    return verdicts(table, data.metric)


def ratios_to_full(data: RunData, best: Mapping[str, str], n_resamples: int = N_RESAMPLES, seed: int = 0
                   ) -> pl.DataFrame:
    """Every PEFT cell's main metric (test MSE, ROC-AUC; the report's route) over full fine-tuning's with the same
    selection ("same selection"), and each PEFT adapter's best cell over full's best cell ("best cells"; `best`:
    adapter -> its best selection), with paired bootstrap intervals. Empty without a full fine-tuning cell."""
    rows, variant = [], data.main_variant
    for adapter in data.adapters():
        if adapter == "full":
            continue
        pairs = [("same selection", s, s) for s in data.selection_names()]
        if adapter in best and "full" in best:
            pairs.append(("best cells", best[adapter], best["full"]))
        for comparison, selection, reference_selection in pairs:
            cell = data.cell_predictions(variant, adapter, selection)
            reference = data.cell_predictions(variant, "full", reference_selection)
            if not cell or not reference:
                continue
            interval = metric_ratio(cell, reference, f"{adapter}/{selection}:full/{reference_selection}",
                                    n_resamples, seed, data.task)
            if interval is not None:
                rows.append({"comparison": comparison, "adapter": adapter, "selection": selection,
                             "full_selection": reference_selection, "ratio": interval.estimate,
                             "ci_low": interval.low, "ci_high": interval.high, "n_seeds": interval.n_seeds,
                             "n_molecules": interval.n_molecules})
    return pl.DataFrame(rows, schema=RATIO_SCHEMA, strict=False)


RATIO_SCHEMA = {"comparison": pl.String, "adapter": pl.String, "selection": pl.String, "full_selection": pl.String,
                "ratio": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n_seeds": pl.Int64,
                "n_molecules": pl.Int64}


def interval_schema(metric: str = "mse") -> dict:
    """The differences table's columns; the difference is named after the metric (delta_mse, delta_roc_auc)."""
    return {"adapter": pl.String, "selection": pl.String, "n_seeds": pl.Int64, "n_molecules": pl.Int64,
            f"delta_{metric}": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "excludes_zero": pl.Boolean,
            "p_value": pl.Float64}


INTERVAL_SCHEMA = interval_schema()


def interval_fields(interval: Interval | None, metric: str = "mse") -> dict:
    if interval is None:
        return {"n_seeds": 0, "n_molecules": 0, f"delta_{metric}": None, "ci_low": None, "ci_high": None,
                "excludes_zero": None, "p_value": None}
    return {"n_seeds": interval.n_seeds, "n_molecules": interval.n_molecules, f"delta_{metric}": interval.estimate,
            "ci_low": interval.low, "ci_high": interval.high, "excludes_zero": interval.excludes_zero,
            "p_value": interval.p_value}


def jaccard(a: set, b: set) -> float:
    union = a | b
    return len(a & b) / len(union) if union else float("nan")


def selection_overlap(selections: Mapping[tuple[str, int], pl.DataFrame], strategies: Sequence[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Jaccard of selected mol_id sets between strategies, per seed then averaged; also the seeds counted."""
    size = len(strategies)
    total, count = np.zeros((size, size)), np.zeros((size, size), dtype=int)
    ids = {key: set(table["mol_id"].cast(pl.String).to_list()) for key, table in selections.items()}
    seeds = sorted({seed for _, seed in ids})
    for seed in seeds:
        for i, j in combinations(range(size), 2):
            a, b = ids.get((strategies[i], seed)), ids.get((strategies[j], seed))
            value = jaccard(a, b) if a is not None and b is not None else float("nan")
            if not np.isnan(value):  # both present, and not both empty
                total[i, j] += value
                total[j, i] += value
                count[i, j] += 1
                count[j, i] += 1
        for i in range(size):
            if (strategies[i], seed) in ids:
                total[i, i] += 1.0
                count[i, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, count
