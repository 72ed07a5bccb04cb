"""How informative the uncertainty a selection used is, on the validation split: the Spearman correlation of the
uncertainty with the error and (regression) the coverage of +-1.96 sd, per seed, from the `validation_uncertainty`
record that `molpeft select --strategy mcdropout` writes in its manifest, with an interval calibration curve
(regression) or a reliability diagram (classification).

The rules the report applies, stated in its text too:
- informative: the Spearman's 95% interval lies above 0, the interval from Fisher's z with Fieller, Hartley and
  Pearson's variance 1.06 / (n - 3) for a rank correlation (n: validation molecules);
- coverage: calibrated when the share of molecules within +-1.96 sd lies in the binomial 95% range of 0.95 for n
  molecules, 0.95 +- 1.96 sqrt(0.95 * 0.05 / n); below it the intervals are too narrow (over-confident), above it
  too wide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpeft_cli.report.document import Cell, Figure, Paragraph, Section, Table, fmt

TITLE = "Uncertainty checked on the validation split"
NOMINAL = 0.95
UNCERTAIN_STRATEGIES = ("mcdropout",)  # strategies that rank the pool by a model's uncertainty


@dataclass
class Check:
    """One seed's validation check of a strategy's uncertainty."""

    strategy: str
    seed: int
    uncertainty: str
    n: int | None
    spearman: float | None
    coverage: float | None  # share within +-1.96 sd (regression)
    calibration: list[tuple[float, float]] = field(default_factory=list)  # (nominal level, observed coverage)
    reliability: list[tuple[float, float, int]] = field(default_factory=list)  # (mean predicted, observed, count)


def spearman_interval(rho: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The interval of a Spearman correlation from Fisher's z, variance 1.06 / (n - 3); (nan, nan) for n < 4."""
    if n is None or n < 4 or rho is None or not math.isfinite(rho):
        return float("nan"), float("nan")
    from statistics import NormalDist

    z, half = math.atanh(max(min(rho, 0.999999), -0.999999)), NormalDist().inv_cdf(0.5 + level / 2)
    spread = half * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - spread), math.tanh(z + spread)


def coverage_range(n: int, nominal: float = NOMINAL) -> tuple[float, float]:
    """The binomial 95% range of the observed coverage when the intervals are calibrated."""
    half = 1.96 * math.sqrt(nominal * (1 - nominal) / n)
    return nominal - half, min(1.0, nominal + half)


def informative(check: Check) -> str:
    low, high = spearman_interval(check.spearman, check.n)
    if low != low:
        return "n/a"
    return "yes" if low > 0 else "no (inversely related)" if high < 0 else "no"


def calibration_word(check: Check) -> str:
    if check.coverage is None or not check.n:
        return "n/a"
    low, high = coverage_range(check.n)
    return ("calibrated" if low <= check.coverage <= high
            else "over-confident" if check.coverage < low else "under-confident")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def checks(manifests: Mapping[tuple[str, int], dict]) -> tuple[list[Check], list[tuple[str, int]]]:
    """The seeds' checks from the selection manifests, and the (strategy, seed) of uncertainty selections whose
    manifest has none (made before the check existed)."""
    found, unmeasured = [], []
    for (strategy, seed), manifest in sorted(manifests.items()):
        # `select` writes it beside the selection record; read it inside too (an earlier layout)
        record = manifest.get("validation_uncertainty") or (manifest.get("selection") or {}).get(
            "validation_uncertainty")
        if not isinstance(record, dict):
            if strategy in UNCERTAIN_STRATEGIES:
                unmeasured.append((strategy, seed))
            continue
        n = _number(record.get("n"))
        calibration = [(float(p["level"]), float(p["observed"])) for p in record.get("calibration") or []
                       if _number(p.get("level")) is not None and _number(p.get("observed")) is not None]
        reliability = [(float(p["mean_predicted"]), float(p["observed"]), int(p.get("count") or 0))
                       for p in record.get("reliability") or []
                       if _number(p.get("mean_predicted")) is not None and _number(p.get("observed")) is not None]
        found.append(Check(strategy, seed, str(record.get("uncertainty") or "uncertainty"),
                           int(n) if n is not None else None, _number(record.get("spearman")),
                           _number(record.get("coverage_95")), calibration, reliability))
    return found, unmeasured


def uncertainty_section(manifests: Mapping[tuple[str, int], dict], selections: list[str],
                        figures_dir: Path) -> Section | None:
    """None when the run has no uncertainty selection and no manifest records a check."""
    found, unmeasured = checks(manifests)
    missing = [s for s in selections if s in UNCERTAIN_STRATEGIES and not any(c.strategy == s for c in found)
               and not any(u[0] == s for u in unmeasured)]
    if not found and not unmeasured and not missing:
        return None
    blocks: list = []
    if found:
        blocks += _measured(found, figures_dir)
    if unmeasured or missing:
        where = ", ".join(f"{s} seed {seed}" for s, seed in unmeasured) or ", ".join(missing)
        blocks.append(Paragraph(f"Not measured for {where}: the selection manifest carries no validation check "
                                "of its uncertainty (made before `molpeft select` recorded one, or not found), so "
                                "how informative that uncertainty is remains unknown."))
    return Section(TITLE, blocks)


def _measured(found: list[Check], figures_dir: Path) -> list:
    from molpeft_cli.report import figures

    regression = any(c.coverage is not None or c.calibration for c in found)
    rows: list[list[Cell]] = []
    for c in found:
        low, high = spearman_interval(c.spearman, c.n)
        rows.append([c.strategy, str(c.seed), c.uncertainty, str(c.n) if c.n else "n/a", fmt(c.spearman, 2),
                     f"[{fmt(low, 2)}, {fmt(high, 2)}]", informative(c),
                     *([fmt(c.coverage, 2), calibration_word(c)] if regression else [])])
    n_yes = sum(informative(c) == "yes" for c in found)
    text = (f"The uncertainty a selection ranked the pool by, checked on the validation split with the fine-tuned "
            f"model it used: the Spearman correlation of the uncertainty with the error (a useful uncertainty is "
            f"larger where the error is). It is called informative when the Spearman's 95% interval (Fisher's z, "
            f"variance 1.06/(n − 3)) lies above 0: here in {n_yes} of {len(found)} seed(s).")
    if regression:
        text += (" Coverage: the share of validation molecules whose label lies within ±1.96 sd of the mean "
                 "prediction (95% expected); calibrated when it lies in the binomial 95% range of 0.95 for n "
                 "molecules (0.95 ± 1.96·√(0.95·0.05/n)), over-confident below it (intervals too narrow).")
    header = ["strategy", "seed", "uncertainty", "validation molecules", "Spearman", "95% CI", "informative",
              *(["coverage of ±1.96 sd", "calibration"] if regression else [])]
    blocks: list = [Paragraph(text), Table(header, rows, text_columns=3)]
    panels = [(f"{c.strategy} seed {c.seed}", c.calibration if regression else c.reliability) for c in found]
    panels = [(title, points) for title, points in panels if points]
    if panels:
        path = figures_dir / "uncertainty_calibration.png"
        if regression:
            blocks.append(Figure(figures.interval_calibration(panels, path),
                                 "Interval calibration on the validation split: the share of molecules whose label "
                                 "lies within the central interval of each nominal level (mean ± z·sd), one line "
                                 "per seed; dashed: perfect calibration. Below the diagonal: over-confident."))
        else:
            blocks.append(Figure(figures.uncertainty_reliability(panels, path),
                                 "Reliability diagram on the validation split: the share of positives against the "
                                 "mean predicted probability per bin (the MC-dropout mean), one line per seed; "
                                 "dashed: perfect calibration."))
    return blocks
