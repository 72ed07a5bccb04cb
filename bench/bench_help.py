"""`molpeft --help` start-up, this checkout against another (e.g. an older commit's worktree), measured side by side
in one run (interleaved, so a busy machine slows both alike): the ratio is the figure, not the seconds.

    python bench/bench_help.py [--other PATH_TO_OTHER_CHECKOUT] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def help_seconds(checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "molpeft_cli", "--help"], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, help="another checkout to compare with")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    checkouts = {"this": ROOT, **({"other": args.other.resolve()} if args.other else {})}
    times: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(args.repeats):
        for name, path in checkouts.items():
            times[name].append(help_seconds(path))
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.3f} s, min {min(values):.3f} s ({checkouts[name]})")
    if args.other:
        print(f"ratio this/other (medians): {statistics.median(times['this']) / statistics.median(times['other']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
