"""The time of a study profile, from its steps' manifests: the sum of step times and the wall time on N workers.

    python bench/study_time.py artifacts/quick --profile quick --jobs 1 2
    python bench/study_time.py artifacts/quick --profile full --jobs 2      # seeds 1-2 from seed 0's steps
    python bench/study_time.py artifacts/full --profile full --jobs 1 14 --inputs-unchecked --leave-out report
        # a run made by tools/device/study_device.sh on a GPU and brought back without weights (report run here)

Each step's time is the span its manifest records (started -> ended). The wall time replays the plan with those
times the way `molpeft run --jobs N` schedules it. A step not yet run takes the time of the same step of
`--reference-seed` (marked "estimated"). Step times measured while other jobs shared the cores are upper bounds
for an idle machine. Run it from the folder the study was run from, with the same RUN_DIR spelling: the
step command lines, which decide whether a step is up to date, hold the paths as given.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from molpeft_cli.pipeline.study import StudyConfig, plan_study  # noqa: E402
from molpeft_cli.pipeline.timing import measured_seconds, simulate_wall  # noqa: E402

SEED_SUFFIX = re.compile(r"s(\d+)$")


def group(name: str) -> str:
    kind, _, rest = name.partition(":")
    if kind == "finetune":
        _, adapter = rest.split("-")[:2] if rest.startswith("direct") else rest.split("-")[1:3]
        return f"finetune {adapter}" + (" (direct)" if rest.startswith("direct") else "")
    if kind == "select":
        return f"select {rest.rsplit('-', 1)[0]}"
    return kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reference-seed", type=int, default=0)
    parser.add_argument("--inputs-unchecked", action="store_true",
                        help="count a step whose manifest has its command line even when its inputs cannot be "
                             "checked (a run brought back without its weights, e.g. by tools/device/study_device.py)")
    parser.add_argument("--leave-out", nargs="*", default=[],
                        help="steps to leave out of the sums and the replay (e.g. report, run elsewhere)")
    args = parser.parse_args()
    plan = plan_study(StudyConfig(profile=args.profile, output=args.run_dir))
    plan.steps = [s for s in plan.steps if s.name not in args.leave_out]
    measured = measured_seconds(plan, check_inputs=not args.inputs_unchecked)
    seconds, estimated = dict(measured), []
    for step in plan.steps:
        if step.name in seconds:
            continue
        reference = SEED_SUFFIX.sub(f"s{args.reference_seed}", step.name)
        if reference in measured:
            seconds[step.name] = measured[reference]
            estimated.append(step.name)
    missing = [s.name for s in plan.steps if s.name not in seconds]
    if not measured:
        print(f"note: no step of the {args.profile} profile in {args.run_dir} is up to date; is this the folder "
              "the study was run from, with the same RUN_DIR spelling?", file=sys.stderr)
    totals: dict[str, list[float]] = defaultdict(list)
    for step in plan.steps:
        if step.name in seconds:
            totals[group(step.name)].append(seconds[step.name])
    lines = [f"# Time of the `{args.profile}` profile ({args.run_dir})", "",
             f"{len(plan.steps)} steps: {len(measured)} measured from their manifests"
             + (f", {len(estimated)} estimated from seed {args.reference_seed}'s twin steps" if estimated else "")
             + (f", {len(missing)} not run yet (no wall time until every step has a time)" if missing else "")
             + ".", "", "| steps | n | seconds (sum) | seconds per step (min-max) |", "|:---|---:|---:|---:|"]
    for name, values in sorted(totals.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {name} | {len(values)} | {sum(values):,.0f} | {min(values):,.0f}-{max(values):,.0f} |")
    total = sum(seconds.values())
    lines += ["", f"Sum of step times: {total:,.0f} s ({total / 3600:.2f} h)."]
    for jobs in [] if missing else args.jobs:
        wall = simulate_wall(plan, seconds, jobs)
        lines.append(f"Wall time with `--jobs {jobs}` (the plan replayed with these step times): {wall:,.0f} s "
                     f"({wall / 3600:.2f} h).")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
