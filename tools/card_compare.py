"""Compare fine-tuned models of a `tools/model_card_eval.sh` run with a reference model, seed by seed.

    python tools/card_compare.py artifacts/card molformer-mini moses-only step-1226 step-2452

For each model: the validation MSE that early stopping kept (finetune.json) and the test MSE per seed, and the test
ΔMSE against the reference with the report's paired two-level bootstrap 95% CI (seeds, then test molecules within
a seed, paired on seed and mol_id). Choose between models on the validation column: the test column is what the
choice is reported on.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from molpeft_cli.report.stats import compare_cells  # noqa: E402


def runs(out: Path, name: str) -> dict[int, tuple[float, float, pl.DataFrame]]:
    """seed -> (best valid MSE, test MSE, test predictions)."""
    found = {}
    for metrics in sorted(out.glob(f"{name}-s*.metrics.parquet")):
        seed = int(metrics.name[len(name) + 2:].split(".")[0])
        valid = json.loads((out / f"{name}-s{seed}" / "finetune.json").read_text())["best_valid_mse"]
        test = float(pl.read_parquet(metrics).filter(pl.col("split") == "test")["mse"][0])
        predictions = pl.read_parquet(out / f"{name}-s{seed}.predictions.parquet").filter(pl.col("split") == "test")
        found[seed] = (valid, test, predictions.select("mol_id", "label", "prediction"))
    return found


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f} +- {statistics.stdev(values):.3f}" if len(values) > 1 else f"{mean:.3f}"


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    out, reference_name, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    reference = runs(out, reference_name)
    if not reference:
        print(f"error: no runs of {reference_name} in {out}", file=sys.stderr)
        return 1
    lines = ["| model | seeds | valid MSE (mean +- sd) | test MSE per seed | test MSE (mean +- sd) | "
             f"test ΔMSE vs {reference_name} [95% CI] |", "|---|---|---|---|---|---|"]
    for name in [reference_name, *names]:
        found = runs(out, name)
        if not found:
            lines.append(f"| {name} | 0 | not run | | | |")
            continue
        seeds = sorted(found)
        valid = [found[s][0] for s in seeds]
        test = [found[s][1] for s in seeds]
        delta = "reference"
        if name != reference_name:
            interval = compare_cells({s: found[s][2] for s in seeds}, {s: r[2] for s, r in reference.items()},
                                     f"{name}-{reference_name}")
            delta = (f"{interval.estimate:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}] ({interval.n_seeds} "
                     "paired seeds)") if interval else "no shared seeds"
        lines.append(f"| {name} | {', '.join(map(str, seeds))} | {spread(valid)} | "
                     f"{' / '.join(f'{v:.3f}' for v in test)} | {spread(test)} | {delta} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
