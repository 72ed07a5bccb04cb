"""Run a study profile's model steps (stage-1 MLM, selections, influence, fine-tunes, evaluations) on a time-boxed
machine, e.g. a GPU lease without DeepChem, and pack what finished to bring back.

The steps are exactly `molpeft run`'s (same plan, same command lines and manifests, same worker pool); this script
only (1) requires the data steps to be done already (data, pool, split, split comparison, audit: the split needs
DeepChem; run them where it is installed, they take a minute on a CPU), (2) leaves the report out (run
`molpeft report RUN -o RUN/report` afterwards), (3) starts no new step after --minutes and keeps going past a
failed step, and (4) with --pack, writes RUN without model weights or optimiser state into one .tar.gz (metrics,
predictions, selections, scores, training logs, manifests, step logs). Seeds are run in the order given;
run.json lists them sorted, as `molpeft run` writes it.

Usage: python tools/device/study_device.py RUN --profile full --jobs 14 --device cuda --minutes 8
           --pack OUT/study.tar.gz
"""

from __future__ import annotations

import argparse
import logging
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# the data steps (the split needs DeepChem), done beforehand where it is installed
PREREQUISITES = ("data", "pool", "dataset", "split", "split-compare", "audit")
LEFT_OUT = ("report",)
NOT_PACKED = (".safetensors", ".bin", ".pt")


def pack(run_dir: Path, archive: Path) -> int:
    """Write run_dir (weights and trainer_state/ left out) as a .tar.gz; returns the number of files packed."""
    files = [p for p in sorted(run_dir.rglob("*")) if p.is_file() and not p.name.endswith(NOT_PACKED)
             and "trainer_state" not in p.parts and ".tmp" not in p.name]
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=str(path))  # relative to the working directory, as the manifests name them
    partial.replace(archive)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--seeds", default=None, help="comma-separated, in the order to run them")
    parser.add_argument("--adapters", default=None, help="comma-separated (default: all)")
    parser.add_argument("--selections", default=None, help="comma-separated (default: the original study's grid)")
    parser.add_argument("--budgets", default=None, help="comma-separated numbers of pool molecules (run --budgets)")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--minutes", type=float, default=None, help="start no new step after this")
    parser.add_argument("--pack", default=None, help="write the run (no weights) to this .tar.gz at the end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log = logging.getLogger("study_device")

    from molpeft_cli.choices import ADAPTERS, SELECTIONS
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.pipeline.execute import is_current
    from molpeft_cli.pipeline.plan import build_plan
    from molpeft_cli.pipeline.profiles import PROFILES
    from molpeft_cli.pipeline.study import global_args_for, run_plan
    from molpeft_cli.settings import Runtime

    deadline = time.monotonic() + 60 * args.minutes if args.minutes else None
    run_dir = Path(args.run_dir)
    profile = PROFILES[args.profile]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(profile.seeds)
    adapters = args.adapters.split(",") if args.adapters else list(ADAPTERS)
    selections = args.selections.split(",") if args.selections else list(SELECTIONS)
    budgets = [int(k) for k in args.budgets.split(",")] if args.budgets else None
    plan = build_plan(run_dir, profile, seeds, adapters, selections, None, None, budgets=budgets)
    canonical = build_plan(run_dir, profile, sorted(seeds), adapters, selections, None, None, budgets=budgets)
    missing = [s.name for s in plan.steps if s.name in PREREQUISITES and not is_current(s)]
    if missing:
        print(f"error: {len(missing)} prerequisite step(s) are not done in {run_dir}: {', '.join(missing[:6])}; "
              "run them where DeepChem is installed (the data steps of "
              f"`molpeft run --profile {args.profile} -o {run_dir} --dry-run`)", file=sys.stderr)
        return 2
    todo = replace(plan, steps=[s for s in plan.steps if s.name not in LEFT_OUT])
    runtime = Runtime(seed=0, threads=args.threads, device=args.device)
    status = "failed"
    try:  # `molpeft run`'s own execution: run.json, the worker pool, run_history.jsonl, the time limit
        result = run_plan(todo, run_dir, canonical.describe(), global_args_for(runtime), runtime,
                          ["tools/device/study_device.py", *(argv if argv is not None else sys.argv[1:])],
                          jobs=args.jobs, deadline=deadline, keep_going=True)
        status = "completed"
        log.info(f"completed: {result.counts['run']} steps run, {result.counts['skipped']} up to date")
    except MolpeftError as exc:  # a failed step or the time limit: reported, and what finished is still packed
        log.error(str(exc))
    finally:
        if args.pack:
            log.info(f"packed {pack(run_dir, Path(args.pack))} files into {args.pack}")
    return 0 if status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
