"""Budget curves: when a strategy ran at several budgets, each strategy's test main metric against the number of
added molecules per adapter (the cells' two-level bootstrap bands; `none` at 0, `all` at the pool size), and each
strategy's paired difference to `random` at the same budget, Holm-corrected over all of those comparisons."""

from __future__ import annotations

import polars as pl

from molpeft_cli.report.collect import SELECTION_ORDER, RunData, ordered
from molpeft_cli.report.stats import N_RESAMPLES, cell_interval, compare_cells, interval_fields, verdicts

BASELINE = "random"  # the strategy every other is compared with at each budget
FIXED = ("none", "all")  # one point each: no added data (budget 0) and the whole pool


def budget_schema(metric: str) -> dict:
    """budgets.parquet: one row per adapter, strategy and budget; the difference is to `random` at that budget."""
    return {"adapter": pl.String, "selection": pl.String, "budget": pl.Int64, "n_added": pl.Float64,
            "n_seeds": pl.Int64, "n_molecules": pl.Int64, metric: pl.Float64, f"{metric}_low": pl.Float64,
            f"{metric}_high": pl.Float64, f"delta_{metric}": pl.Float64, "ci_low": pl.Float64,
            "ci_high": pl.Float64, "excludes_zero": pl.Boolean, "p_value": pl.Float64, "p_holm": pl.Float64,
            "verdict": pl.String, "paired_seeds": pl.Int64}


def budget_cells(data: RunData, adapter: str, selection: str, budget: int) -> dict:
    """seed -> test predictions of one adapter's strategy at one budget (the report's route)."""
    return {key.seed: table for (key, b), table in data.budget_predictions.items()
            if (key.variant, key.adapter, key.selection, b) == (data.main_variant, adapter, selection, budget)}


def has_budgets(data: RunData) -> bool:
    """Whether some strategy of the report's route ran at more than one budget for one seed."""
    if data.budgets is None:
        return False
    counts = data.budgets.filter((pl.col("variant") == data.main_variant) & ~pl.col("selection").is_in(FIXED)
                                 ).group_by("adapter", "selection", "seed").agg(pl.col("budget").n_unique())
    return bool(counts.height and counts["budget"].max() > 1)


def budget_table(data: RunData, n_resamples: int = N_RESAMPLES, seed: int = 0) -> pl.DataFrame | None:
    """Every (adapter, strategy, budget) point with its bootstrap band, and its difference to random at the same
    budget (p-value, Holm over all such comparisons, verdict); None when no strategy ran at several budgets."""
    if not has_budgets(data):
        return None
    metric, table = data.metric, data.budgets.filter(pl.col("variant") == data.main_variant)
    points, differences = [], []
    for adapter in ordered(table["adapter"].to_list(), tuple(data.adapters())):
        part = table.filter(pl.col("adapter") == adapter)
        for selection in ordered(part["selection"].to_list(), SELECTION_ORDER):
            rows = part.filter(pl.col("selection") == selection)
            for budget in sorted(set(rows["budget"].to_list())):
                at = rows.filter(pl.col("budget") == budget)
                cell = budget_cells(data, adapter, selection, budget)
                band = cell_interval(cell, f"{adapter}/{selection}-k{budget}", n_resamples, seed, data.task)
                points.append({"adapter": adapter, "selection": selection, "budget": budget,
                               "n_added": at["n_added"].cast(pl.Float64).mean(), "n_seeds": at.height,
                               "n_molecules": band.n_molecules if band else None,
                               metric: band.estimate if band else at[metric].mean(),
                               f"{metric}_low": band.low if band else None,
                               f"{metric}_high": band.high if band else None})
                reference = budget_cells(data, adapter, BASELINE, budget)
                if selection in (BASELINE, *FIXED) or not reference or not cell:
                    continue
                interval = compare_cells(cell, reference, f"{adapter}/{selection}-k{budget}-{BASELINE}",
                                         n_resamples, seed, data.task)
                if interval is not None:
                    differences.append({"adapter": adapter, "selection": selection, "budget": budget,
                                        **interval_fields(interval, metric)})
    keys = ["adapter", "selection", "budget"]
    curve = pl.DataFrame(points, schema={k: v for k, v in budget_schema(metric).items()
                                         if k in points[0]} if points else None, strict=False)
    if differences:
        judged = verdicts(pl.DataFrame(differences), metric).rename({"n_seeds": "paired_seeds"}).drop("n_molecules")
        curve = curve.join(judged, on=keys, how="left")
    schema = budget_schema(metric)
    return curve.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in schema.items()
                              if name not in curve.columns).select(
        pl.col(name).cast(dtype) for name, dtype in schema.items())
