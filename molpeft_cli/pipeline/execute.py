"""Run a study plan: each step is one `molpeft` command, run in this process; a step whose manifest records the
same command line and the same input hashes (and whose outputs exist) is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from molpeft_cli.console import info, warn
from molpeft_cli.data.manifest import sha256_path
from molpeft_cli.errors import MolpeftError
from molpeft_cli.pipeline.plan import Step, StudyPlan


def is_current(step: Step) -> bool:
    """True when the step's outputs exist and its manifest matches its command line and current inputs."""
    if not step.output.exists() or not step.manifest.exists():
        return False
    if any(not p.exists() for p in step.extra_outputs):
        return False
    try:
        manifest = json.loads(step.manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    argv = manifest.get("argv") or []
    if argv[-len(step.argv):] != step.argv:
        return False
    for record in (manifest.get("inputs") or {}).values():
        path, digest = record.get("path"), record.get("sha256")
        if not path or digest in (None, "stdin"):
            continue
        if not Path(path).exists() or sha256_path(path) != digest:
            return False
    return True


def command_line(step: Step, global_args: list[str]) -> str:
    return shlex.join(["molpeft", *global_args, *step.argv])


def run_step(step: Step, global_args: list[str]) -> None:
    """Invoke the molpeft command in-process, exactly as the command line would."""
    import contextlib
    import io

    from molpeft_cli.cli.app import app
    from molpeft_cli.console import verbosity

    saved = sys.argv
    sys.argv = ["molpeft", *global_args, *step.argv]
    # a step's stdout (e.g. eval's metrics JSON) is data for whoever runs that step alone; `run` keeps its
    # stdout clean and shows it on stderr only with -v
    sink = sys.stderr if verbosity() >= 1 else io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            code = app([*global_args, *step.argv], standalone_mode=False, prog_name="molpeft")
    finally:
        sys.argv = saved
    if code not in (None, 0):
        raise MolpeftError(f"step {step.name} failed (exit {code}): {command_line(step, global_args)}")


def execute(plan: StudyPlan, global_args: list[str], dry_run: bool = False) -> dict[str, int]:
    counts = {"run": 0, "skipped": 0}
    total = len(plan.steps)
    for i, step in enumerate(plan.steps, 1):
        current = is_current(step)
        if dry_run:
            from molpeft_cli.console import console

            mark = "skip" if current else "run "
            console.print(f"[{i:>3}/{total}] {mark} {command_line(step, global_args)}", soft_wrap=True, markup=False,
                          highlight=False)
            counts["skipped" if current else "run"] += 1
            continue
        if current:
            counts["skipped"] += 1
            info(f"[dim][{i:>3}/{total}] up to date: {step.name}[/dim]")
            continue
        info(f"[bold][{i:>3}/{total}] {step.name}[/bold]")
        start = time.perf_counter()
        run_step(step, global_args)
        counts["run"] += 1
        info(f"[dim]    {step.name} took {time.perf_counter() - start:.1f} s[/dim]")
    if counts["run"] == 0 and not dry_run:
        warn("every step was already up to date; nothing ran")
    return counts


def write_makefile(plan: StudyPlan, path: Path, global_args: list[str], program: str = "molpeft") -> None:
    """The same graph as a Makefile: one target per step (its manifest), so `make -j N` runs cells in parallel."""
    from molpeft_cli.data.atomic import write_text_atomic

    names = {s.name: s for s in plan.steps}
    lines = [f"# molpeft study: profile {plan.profile.name}; made by `molpeft run --makefile`.",
             f"MOLPEFT ?= {program}", "", f"all: {plan.steps[-1].manifest}", "", ".PHONY: all", ""]
    for step in plan.steps:
        deps = " ".join(str(names[d].manifest) for d in step.deps if d in names)
        lines.append(f"{step.manifest}: {deps}".rstrip())
        lines.append("\t$(MOLPEFT) " + shlex.join([*global_args, *step.argv]))
        lines.append("")
    write_text_atomic(path, "\n".join(lines))
