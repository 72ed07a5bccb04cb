"""Statistics over seeds: per-cell mean and spread, paired bootstrap confidence intervals, selection overlap.

The confidence interval of a difference in test MSE between two cells is a two-level (hierarchical) percentile
bootstrap: each resample draws the seeds with replacement, and within every drawn seed draws the test molecules
with replacement; the two cells are paired on seed and mol_id, so each resample averages the per-molecule
differences of squared errors. One seed leaves only the molecule level.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import polars as pl

from molpeft_cli.report.collect import MAIN_VARIANT, RunData

N_RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean over seeds of the mean per-molecule difference
    low: float
    high: float
    n_seeds: int
    n_molecules: int  # paired test molecules per seed (the smallest, if seeds differ)

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def cell_summary(metrics: pl.DataFrame) -> pl.DataFrame:
    """Mean and sd over seeds per (variant, adapter, selection); sd is null with one seed (no spread); how many
    seeds converged (and for how many it is unknown)."""
    if "converged" not in metrics.columns:
        metrics = metrics.with_columns(pl.lit(None, dtype=pl.Boolean).alias("converged"))
    summary = metrics.group_by("variant", "adapter", "selection").agg(
        pl.len().alias("n_seeds"),
        pl.col("seed").sort().alias("seeds"),
        pl.col("mse").mean().alias("mse_mean"),
        pl.col("mse").std(ddof=1).alias("mse_sd"),
        *(pl.col(c).mean().alias(f"{c}_mean") for c in ("rmse", "mae", "r2", "spearman", "train_seconds")),
        pl.col("train_seconds").std(ddof=1).alias("train_seconds_sd"),
        pl.col("trainable_params").max(), pl.col("total_params").max(),
        pl.col("converged").sum().alias("n_converged"),
        pl.col("converged").is_null().sum().alias("n_convergence_unknown"),
    )
    summary = summary.with_columns(
        pl.when(pl.col("n_seeds") > 1).then(pl.col(c)).otherwise(None).alias(c) for c in ("mse_sd", "train_seconds_sd")
    )
    return summary.sort("variant", "adapter", "selection")


def squared_error_differences(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame]
                              ) -> dict[int, np.ndarray]:
    """Per seed present in both: (pred_cell - y)^2 - (pred_ref - y)^2 for the test molecules both predicted."""
    return {seed: a - b for seed, (a, b) in paired_squared_errors(cell, reference).items()}


def _resampled_means(per_seed: Sequence[Sequence[np.ndarray]], n_resamples: int, seed: int) -> list[np.ndarray]:
    """Two-level resampling: each resample draws the seeds with replacement, and within every drawn seed draws the
    molecules with replacement; the molecules drawn apply to all of a seed's paired arrays. Returns, per array
    position, the mean over drawn seeds of the per-seed means (one value per resample)."""
    rng = np.random.default_rng(seed)
    n_seeds, width = len(per_seed), len(per_seed[0])
    drawn = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    totals = [np.zeros(n_resamples) for _ in range(width)]
    for slot in range(n_seeds):
        for index, arrays in enumerate(per_seed):
            rows = np.flatnonzero(drawn[:, slot] == index)
            if rows.size:  # each drawn seed gets its own resample of molecules
                picks = rng.integers(0, arrays[0].size, size=(rows.size, arrays[0].size))
                for total, values in zip(totals, arrays, strict=True):
                    total[rows] += values[picks].mean(axis=1)
    return [total / n_seeds for total in totals]


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def hierarchical_bootstrap(per_seed: Sequence[np.ndarray], n_resamples: int = N_RESAMPLES, seed: int = 0,
                           level: float = LEVEL) -> Interval:
    """Percentile interval of the mean over seeds of per-seed mean values, resampling seeds then values."""
    arrays = [np.asarray(a, dtype=np.float64) for a in per_seed if len(a)]
    if not arrays:
        raise ValueError("no paired values to bootstrap")
    (resampled,) = _resampled_means([(a,) for a in arrays], n_resamples, seed)
    low, high = _percentiles(resampled, level)
    return Interval(estimate=float(np.mean([a.mean() for a in arrays])), low=low, high=high,
                    n_seeds=len(arrays), n_molecules=min(a.size for a in arrays))


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


def mse_ratio(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame], name: str,
              n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval | None:
    """Test MSE of `cell` over that of `reference` (paired on seed and mol_id) with its bootstrap interval, or
    None without shared seeds and molecules. Seeded like `compare_cells`."""
    errors = paired_squared_errors(cell, reference)
    if not errors:
        return None
    stream = np.random.SeedSequence([seed, zlib.crc32(name.encode())])
    return hierarchical_ratio_bootstrap(list(errors.values()), n_resamples, int(stream.generate_state(1)[0]))


def compare_cells(cell: Mapping[int, pl.DataFrame], reference: Mapping[int, pl.DataFrame], name: str,
                  n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval | None:
    """Paired difference in test MSE (cell minus reference), or None without shared seeds and molecules.

    The bootstrap stream is seeded from `seed` and the comparison's name, so a cell's interval does not depend
    on which other cells the run holds.
    """
    differences = squared_error_differences(cell, reference)
    if not differences:
        return None
    stream = np.random.SeedSequence([seed, zlib.crc32(name.encode())])
    return hierarchical_bootstrap(list(differences.values()), n_resamples, int(stream.generate_state(1)[0]))


def differences_to_none(data: RunData, n_resamples: int = N_RESAMPLES, seed: int = 0) -> pl.DataFrame:
    """For every two-stage cell, ΔMSE to the same adapter's `none` cell with its bootstrap interval."""
    rows = []
    for adapter in data.adapters():
        reference = data.cell_predictions(MAIN_VARIANT, adapter, "none")
        for selection in data.selection_names():
            cell = data.cell_predictions(MAIN_VARIANT, adapter, selection)
            if selection == "none" or not cell:
                continue
            interval = compare_cells(cell, reference, f"{adapter}/{selection}-none", n_resamples, seed)
            rows.append({"adapter": adapter, "selection": selection, **interval_fields(interval)})
    return pl.DataFrame(rows, schema=INTERVAL_SCHEMA, strict=False)


def ratios_to_full(data: RunData, best: Mapping[str, str], n_resamples: int = N_RESAMPLES, seed: int = 0
                   ) -> pl.DataFrame:
    """Every two-stage PEFT cell's test MSE over full fine-tuning's with the same selection ("same selection"),
    and each PEFT adapter's best cell over full's best cell ("best cells"; `best`: adapter -> its best selection),
    with paired bootstrap intervals. Empty without a full fine-tuning cell."""
    rows = []
    for adapter in data.adapters():
        if adapter == "full":
            continue
        pairs = [("same selection", s, s) for s in data.selection_names()]
        if adapter in best and "full" in best:
            pairs.append(("best cells", best[adapter], best["full"]))
        for comparison, selection, reference_selection in pairs:
            cell = data.cell_predictions(MAIN_VARIANT, adapter, selection)
            reference = data.cell_predictions(MAIN_VARIANT, "full", reference_selection)
            if not cell or not reference:
                continue
            interval = mse_ratio(cell, reference, f"{adapter}/{selection}:full/{reference_selection}", n_resamples,
                                 seed)
            if interval is not None:
                rows.append({"comparison": comparison, "adapter": adapter, "selection": selection,
                             "full_selection": reference_selection, "ratio": interval.estimate,
                             "ci_low": interval.low, "ci_high": interval.high, "n_seeds": interval.n_seeds,
                             "n_molecules": interval.n_molecules})
    return pl.DataFrame(rows, schema=RATIO_SCHEMA, strict=False)


RATIO_SCHEMA = {"comparison": pl.String, "adapter": pl.String, "selection": pl.String, "full_selection": pl.String,
                "ratio": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "n_seeds": pl.Int64,
                "n_molecules": pl.Int64}


INTERVAL_SCHEMA = {"adapter": pl.String, "selection": pl.String, "n_seeds": pl.Int64, "n_molecules": pl.Int64,
                   "delta_mse": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "excludes_zero": pl.Boolean}


def interval_fields(interval: Interval | None) -> dict:
    if interval is None:
        return {"n_seeds": 0, "n_molecules": 0, "delta_mse": None, "ci_low": None, "ci_high": None,
                "excludes_zero": None}
    return {"n_seeds": interval.n_seeds, "n_molecules": interval.n_molecules, "delta_mse": interval.estimate,
            "ci_low": interval.low, "ci_high": interval.high, "excludes_zero": interval.excludes_zero}


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
