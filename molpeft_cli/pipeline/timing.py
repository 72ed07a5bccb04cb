"""How long a study's steps took, from their manifests, and how long the study takes on N workers.

Each step's manifest records when it started and ended. `simulate_wall` replays the plan with those durations the
way `molpeft run --jobs N` schedules it (a step starts once its dependencies are done; among the ready steps the
earliest in plan order goes first), so one set of measured steps gives the wall time for any worker count.
Durations measured while other work shared the cores are longer than on an idle machine.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping
from datetime import datetime

from molpeft_cli.pipeline.plan import Step, StudyPlan


def step_seconds(step: Step) -> float | None:
    """Seconds between the step's manifest's `started` and `ended`, or None when it has no readable manifest."""
    try:
        manifest = json.loads(step.manifest.read_text())
        started, ended = (datetime.fromisoformat(manifest[k]) for k in ("started", "ended"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return max(0.0, (ended - started).total_seconds())


def measured_seconds(plan: StudyPlan, check_inputs: bool = True) -> dict[str, float]:
    """Step name -> seconds, for the plan's steps that are done and up to date (a manifest left by an older
    config or older inputs does not count: `molpeft run` would run that step again). `check_inputs=False`
    only asks that the manifest records the step's config, for a run brought back from another
    machine without its weights (whose hashes its manifests record)."""
    from molpeft_cli.pipeline.execute import is_current, written_for

    def done(step: Step) -> bool:
        return is_current(step) if check_inputs else written_for(step) is not None

    seconds = {step.name: step_seconds(step) for step in plan.steps if done(step)}
    return {name: value for name, value in seconds.items() if value is not None}


def simulate_wall(plan: StudyPlan, seconds: Mapping[str, float], jobs: int) -> float:
    """Wall seconds of the whole plan on `jobs` workers with the given step durations (every step must have one)."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    missing = [s.name for s in plan.steps if s.name not in seconds]
    if missing:
        raise ValueError(f"no duration for {len(missing)} step(s), e.g. {missing[0]}")
    names = {s.name for s in plan.steps}
    deps = {s.name: {d for d in s.deps if d in names} for s in plan.steps}
    pending = list(plan.steps)
    done: set[str] = set()
    running: list[tuple[float, int, str]] = []  # (finish time, plan index, name)
    clock = 0.0
    order = {s.name: i for i, s in enumerate(plan.steps)}
    while pending or running:
        for step in list(pending):
            if len(running) >= jobs:
                break
            if deps[step.name] <= done:
                pending.remove(step)
                heapq.heappush(running, (clock + seconds[step.name], order[step.name], step.name))
        if not running:
            raise ValueError("the plan has a dependency that never finishes")
        clock, _, name = heapq.heappop(running)
        done.add(name)
        while running and running[0][0] == clock:  # steps that end at the same moment
            done.add(heapq.heappop(running)[2])
    return clock
