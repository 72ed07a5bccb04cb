"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
CALIBRATION_BINS = 10
LABELS = {"mse": "MSE", "roc_auc": "ROC-AUC"}


def _new(width: float, height: float, ncols: int = 1):
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, axes


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, metadata={"Software": None})  # no version stamp: reruns give equal bytes
    return path


def _cell(summary: pl.DataFrame, adapter: str, selection: str) -> dict | None:
    rows = summary.filter((pl.col("adapter") == adapter) & (pl.col("selection") == selection))
    return rows.row(0, named=True) if rows.height else None


def selection_lines(summary: pl.DataFrame, adapters: Sequence[str], selections: Sequence[str],
                    baseline_mse: float | None, path: Path, metric: str = "mse") -> Path:
    """Test score (MSE, or the task's main metric) per selection strategy, one line per adapter, error bars = sd
    over seeds."""
    figure, (ax,) = _new(7.5, 4.2)
    x = np.arange(len(selections))
    mean_col, sd_col = f"{metric}_mean", f"{metric}_sd"
    for i, adapter in enumerate(adapters):
        cells = [_cell(summary, adapter, s) for s in selections]
        mean = np.array([c[mean_col] if c else np.nan for c in cells], dtype=float)
        sd = np.array([c[sd_col] if c and c[sd_col] is not None else 0.0 for c in cells], dtype=float)
        offset = (i - (len(adapters) - 1) / 2) * 0.04  # keep overlapping error bars apart
        ax.errorbar(x + offset, mean, yerr=sd, marker=MARKERS[i % len(MARKERS)], capsize=3, label=adapter)
    if baseline_mse is not None:
        ax.axhline(baseline_mse, color="grey", linestyle="--", linewidth=1, label="RF baseline")
    ax.set_xticks(x, list(selections))
    ax.set_xlabel("selection strategy")
    ax.set_ylabel(f"test {LABELS.get(metric, metric)} (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(figure, path)


def tradeoff(summary: pl.DataFrame, adapters: Sequence[str], path: Path, metric: str = "mse") -> Path:
    """Trainable parameters (log x) against the test score, coloured by training time: one point per cell."""
    figure, (ax,) = _new(7.5, 4.2)
    seconds = summary["train_seconds_mean"].drop_nulls()
    vmin, vmax = (float(seconds.min()), float(seconds.max())) if len(seconds) else (0.0, 1.0)
    scatter = None
    for i, adapter in enumerate(adapters):
        part = summary.filter((pl.col("adapter") == adapter) & pl.col("trainable_params").is_not_null())
        if part.height == 0:
            continue
        colour = part["train_seconds_mean"].fill_null(np.nan).to_numpy()
        scatter = ax.scatter(part["trainable_params"].to_numpy(), part[f"{metric}_mean"].to_numpy(), c=colour,
                             cmap="viridis", vmin=vmin, vmax=max(vmax, vmin + 1e-9), s=60,
                             marker=MARKERS[i % len(MARKERS)], edgecolors="black", linewidths=0.5, label=adapter)
        ax.annotate(adapter, (part["trainable_params"][0], part[f"{metric}_mean"].min()), textcoords="offset points",
                    xytext=(6, -10), fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)  # room for the labels at the extremes
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(f"test {LABELS.get(metric, metric)} (mean over seeds)")
    ax.grid(alpha=0.3, which="both")
    if scatter is not None:
        figure.colorbar(scatter, ax=ax, label="training time (s, mean over seeds)")
        for handle in ax.legend(fontsize=8).legend_handles:  # the legend tells shapes; colour is time
            handle.set_facecolor("lightgrey")
    return _save(figure, path)


def parity(panels: Sequence[tuple[str, pl.DataFrame]], path: Path) -> Path:
    """Prediction against label for each (title, predictions pooled over seeds) panel."""
    figure, axes = _new(3.3 * len(panels), 3.5, ncols=len(panels))
    for ax, (title, table) in zip(axes, panels, strict=True):
        y, p = table["label"].to_numpy(), table["prediction"].to_numpy()
        low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
        ax.scatter(y, p, s=10, alpha=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("label")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("prediction")
    return _save(figure, path)


def paired_seeds(first: Mapping[int, float], second: Mapping[int, float], labels: tuple[str, str],
                 path: Path, metric: str = "mse") -> Path:
    """The test score of two training routes per seed, lines joining the same seed."""
    figure, (ax,) = _new(4.5, 3.6)
    seeds = sorted(set(first) | set(second))
    for seed in seeds:
        xs = [i for i, side in enumerate((first, second)) if seed in side]
        ys = [side[seed] for side in (first, second) if seed in side]
        ax.plot(xs, ys, marker="o", color="tab:blue", alpha=0.7)
        ax.annotate(f"s{seed}", (xs[-1], ys[-1]), textcoords="offset points", xytext=(6, 0), fontsize=8)
    for i, side in enumerate((first, second)):
        if side:
            ax.plot([i - 0.15, i + 0.15], [np.mean(list(side.values()))] * 2, color="black", linewidth=2)
    ax.set_xticks([0, 1], list(labels))
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylabel(f"test {LABELS.get(metric, metric)} (bar = mean)")
    ax.grid(alpha=0.3)
    return _save(figure, path)


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve's (false positive rate, true positive rate) points, from (0, 0) to (1, 1), one step per
    distinct score (tied scores move both rates at once)."""
    order = np.argsort(-scores, kind="stable")
    y, s = labels[order] == 1, scores[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # the final index of each run of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width probability bin with molecules: the mean predicted probability, the share of positives
    and the number of molecules."""
    index = np.clip((probabilities * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    mean_p = np.bincount(index, weights=probabilities, minlength=bins)
    positives = np.bincount(index, weights=(labels == 1).astype(float), minlength=bins)
    kept = count > 0
    return mean_p[kept] / count[kept], positives[kept] / count[kept], count[kept]


def roc_curves(panels: Sequence[tuple[str, pl.DataFrame]], path: Path) -> Path:
    """One ROC curve per (title, predictions pooled over seeds), on one set of axes."""
    figure, (ax,) = _new(5.2, 4.6)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for title, table in panels:
        fpr, tpr = roc_points(table["label"].to_numpy(), table["prediction"].to_numpy())
        ax.plot(fpr, tpr, linewidth=1.5, label=title)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(figure, path)


def calibration(panels: Sequence[tuple[str, pl.DataFrame]], path: Path) -> Path:
    """Reliability curves: share of positives against mean predicted probability per bin, one line per panel."""
    curves = [(title, *reliability(table["label"].to_numpy(), table["prediction"].to_numpy())[:2])
              for title, table in panels]
    return _against_diagonal(curves, "mean predicted probability (bin)", "share of positives", path)


def _against_diagonal(curves: Sequence[tuple[str, Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
                      path: Path) -> Path:
    """(title, x, y) curves on the unit square with the diagonal a calibrated model would follow."""
    figure, (ax,) = _new(5.2, 4.6)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for i, (title, x, y) in enumerate(curves):
        ax.plot(x, y, marker=MARKERS[i % len(MARKERS)], linewidth=1.2, markersize=4, label=title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _save(figure, path)


def overlap_heatmap(strategies: Sequence[str], matrix: np.ndarray, path: Path) -> Path:
    figure, (ax,) = _new(1.2 * len(strategies) + 2.2, 1.0 * len(strategies) + 1.2)
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(strategies)), list(strategies), rotation=30, ha="right")
    ax.set_yticks(range(len(strategies)), list(strategies))
    for i in range(len(strategies)):
        for j in range(len(strategies)):
            value = matrix[i, j]
            ax.text(j, i, "n/a" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if np.nan_to_num(value) > 0.6 else "black")
    figure.colorbar(image, ax=ax, label="Jaccard (mean over seeds)")
    return _save(figure, path)


def influence_histogram(scores: Mapping[int, np.ndarray], path: Path) -> Path:
    figure, (ax,) = _new(7.0, 3.6)
    values = np.concatenate([v for v in scores.values() if len(v)])
    bins = np.histogram_bin_edges(values, bins=min(40, max(10, values.size // 5)))
    for seed, v in sorted(scores.items()):
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, label=f"seed {seed}")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_xlabel("influence score (positive = estimated to lower the validation loss)")
    ax.set_ylabel("pool molecules")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(figure, path)


def budget_curves(table: pl.DataFrame, adapters: Sequence[str], path: Path, metric: str = "mse") -> Path:
    """Per adapter (columns): the test score against the molecules added for every strategy, with its bootstrap
    band (`none` at 0 starts every line; `all` is one point), and below it each strategy's difference to random at
    each budget with its paired interval."""
    label = LABELS.get(metric, metric)
    figure = Figure(figsize=(4.6 * len(adapters), 6.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, len(adapters), squeeze=False, sharex="col")
    strategies = [s for s in dict.fromkeys(table["selection"].to_list()) if s not in ("none", "all")]
    colours = {s: f"C{i % 10}" for i, s in enumerate(strategies)}
    for column, adapter in enumerate(adapters):
        top, bottom = axes[0][column], axes[1][column]
        part = table.filter(pl.col("adapter") == adapter)
        none = part.filter(pl.col("selection") == "none")
        for i, strategy in enumerate(strategies):
            if not part.filter(pl.col("selection") == strategy).height:
                continue
            rows = pl.concat([none, part.filter(pl.col("selection") == strategy)]).sort("budget")
            x = rows["n_added"].fill_null(rows["budget"].cast(pl.Float64)).to_numpy()
            low, high = (rows[c].fill_null(np.nan).to_numpy() for c in (f"{metric}_low", f"{metric}_high"))
            top.plot(x, rows[metric].to_numpy(), marker=MARKERS[i % len(MARKERS)], color=colours[strategy],
                     label=strategy)
            top.fill_between(x, low, high, color=colours[strategy], alpha=0.15, linewidth=0)
            delta = rows.filter(pl.col(f"delta_{metric}").is_not_null())
            if delta.height:
                offset = (i - (len(strategies) - 1) / 2) * 0.01 * max(float(part["budget"].max()), 1.0)
                centre = delta[f"delta_{metric}"].to_numpy()
                bottom.errorbar(delta["budget"].to_numpy() + offset, centre,
                                yerr=[centre - delta["ci_low"].to_numpy(), delta["ci_high"].to_numpy() - centre],
                                marker=MARKERS[i % len(MARKERS)], color=colours[strategy], capsize=3,
                                label=strategy)
        every = part.filter(pl.col("selection") == "all")
        if every.height:
            row = every.row(0, named=True)
            x = row["n_added"] if row["n_added"] is not None else row["budget"]
            errors = [[row[metric] - row[f"{metric}_low"]], [row[f"{metric}_high"] - row[metric]]] \
                if row[f"{metric}_low"] is not None else None
            top.errorbar([x], [row[metric]], yerr=errors, marker="*", markersize=10, color="black", capsize=3,
                         linestyle="none", label="all (the pool)")
        bottom.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        top.set_title(adapter, fontsize=10)
        top.set_ylabel(f"test {label} (95% band)")
        bottom.set_ylabel(f"Δ{label} to random (95% CI)")
        bottom.set_xlabel("molecules added")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
        top.legend(fontsize=7)
    return _save(figure, path)


def interval_calibration(panels: Sequence[tuple[str, Sequence[tuple[float, float]]]], path: Path) -> Path:
    """Observed coverage against the nominal level of the central interval, one line per (title, points)."""
    curves = [(title, *np.array(sorted(points)).T) for title, points in panels]
    return _against_diagonal(curves, "nominal level of the interval (mean ± z·sd)",
                             "share of validation molecules inside", path)


def uncertainty_reliability(panels: Sequence[tuple[str, Sequence[tuple[float, float, int]]]], path: Path) -> Path:
    """Reliability diagram from recorded bins: share of positives against mean predicted probability."""
    curves = [(title, *np.array(sorted(points)).T[:2]) for title, points in panels]
    return _against_diagonal(curves, "mean predicted probability (bin)", "share of positives", path)
