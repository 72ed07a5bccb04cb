"""Run a study plan: each step calls its library function (`molpeft_cli.steps`) in this process with its config; a
step whose manifest records the same config and the same input hashes (and whose outputs exist) is skipped, so an
interrupted run resumes. The command line that stands for each config is recorded in the manifests and written to
the Makefile, so `make` reproduces the same steps through the CLI.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from pathlib import Path

from molpeft_cli.data.manifest import sha256_path
from molpeft_cli.errors import MolpeftError
from molpeft_cli.pipeline.plan import Step, StudyPlan
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)

# the CLI's global options (before the command), with whether each takes a value
_GLOBAL_OPTIONS = {"-q": False, "--quiet": False, "-v": False, "--verbose": False, "-vv": False,
                   "--threads": True, "--device": True, "--seed": True}


class StepFailed(MolpeftError):
    """A step of the study failed; names the step, the reason, and its command line."""

    def __init__(self, step: Step, command: str, cause: MolpeftError):
        self.step, self.command, self.cause = step, command, cause
        self.exit_code = cause.exit_code
        super().__init__(self.render())

    def render(self, flag_of=None) -> str:
        from molpeft_cli.schema import flag_of as flag_in

        config_cls = type(self.step.config)
        # the step's own command line is the pipeline's product, so its settings read as that command's flags
        return f"step {self.step.name} failed: {self.cause.render(lambda s: flag_in(config_cls, s))} ({self.command})"


def recorded_config(manifest: dict, config_cls: type) -> dict | None:
    """The step config a manifest records, as JSON values; for a manifest written before configs were recorded,
    the config its command line stands for (read as the CLI reads it). Settings the record does not name read as
    their defaults (a setting added since). None when neither can be read."""
    from molpeft_cli.schema import command_of, config_record, parse_args, with_defaults

    if isinstance(manifest.get("config"), dict):
        return with_defaults(manifest["config"], config_cls)
    argv = manifest.get("argv") or []
    i = 1
    while i < len(argv) and argv[i] in _GLOBAL_OPTIONS:
        i += 2 if _GLOBAL_OPTIONS[argv[i]] else 1
    if i >= len(argv) or argv[i] != command_of(config_cls):
        return None
    try:
        return config_record(parse_args(config_cls, argv[i + 1:]))
    except (MolpeftError, ValueError, TypeError):
        return None


def written_for(step: Step) -> dict | None:
    """The step's manifest when it records the step's config (whatever the global options were), else None (no
    manifest, unreadable, or left by another config)."""
    from molpeft_cli.schema import config_record

    try:
        manifest = json.loads(step.manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(manifest, dict):
        return None
    return manifest if recorded_config(manifest, type(step.config)) == config_record(step.config) else None


def is_current(step: Step) -> bool:
    """True when the step's outputs exist and its manifest matches its config and current inputs."""
    if not step.output.exists() or any(not p.exists() for p in step.extra_outputs):
        return False
    manifest = written_for(step)
    if manifest is None:
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


def run_step(step: Step, global_args: list[str], runtime: Runtime | None = None) -> None:
    """Call the step's library function with its config; its manifests record the config and the command line
    that stands for it."""
    from molpeft_cli.steps import step as step_function

    _, function = step_function(step.command)
    try:
        function(step.config, runtime or Runtime(), argv=["molpeft", *global_args, *step.argv])
    except MolpeftError as exc:
        raise StepFailed(step, command_line(step, global_args), exc) from exc


def plan_status(plan: StudyPlan) -> list[tuple[Step, bool]]:
    """Each step with whether it is up to date."""
    return [(step, is_current(step)) for step in plan.steps]


def execute(plan: StudyPlan, global_args: list[str], dry_run: bool = False,
            runtime: Runtime | None = None, counts: dict[str, int] | None = None,
            deadline: float | None = None, keep_going: bool = False) -> dict[str, int]:
    """Run the steps that are not up to date, in order; with `dry_run`, only count them. `counts` ("run",
    "skipped", "not_started") is updated as steps end, so a caller still has them when a step fails or the run is
    interrupted. `deadline` and `keep_going` as in `execute_parallel`: no step starts after the deadline (the rest
    are counted as not started, nothing is raised), and with `keep_going` a failed step stops only the steps that
    depend on it, the first failure being raised at the end."""
    counts = counts if counts is not None else {}
    counts.update(run=0, skipped=0, not_started=0)
    total = len(plan.steps)
    failure: BaseException | None = None
    blocked: set[str] = set()  # failed steps and every step that depends on one
    for i, step in enumerate(plan.steps, 1):
        if dry_run:
            counts["skipped" if is_current(step) else "run"] += 1
            continue
        if any(d in blocked for d in step.deps):
            blocked.add(step.name)
            counts["not_started"] += 1
            continue
        if is_current(step):
            counts["skipped"] += 1
            log.info(f"[{i:>3}/{total}] up to date: {step.name}")
            continue
        if deadline is not None and time.monotonic() >= deadline:
            counts["not_started"] += total - i + 1
            log.warning(f"time limit reached: no new step starts ({counts['not_started']} left; rerun to resume)")
            break
        log.info(f"[{i:>3}/{total}] {step.name}")
        start = time.perf_counter()
        try:
            run_step(step, global_args, runtime)
        except Exception as exc:
            if not keep_going:
                counts["not_started"] += total - i
                raise
            failure = failure or exc
            blocked.add(step.name)
            log.error(f"    {step.name} failed: {exc}")
            continue
        counts["run"] += 1
        log.info(f"    {step.name} took {time.perf_counter() - start:.1f} s")
    if failure is not None:
        raise failure
    if counts["run"] == 0 and not dry_run and not counts["not_started"]:
        log.warning("every step was already up to date; nothing ran")
    return counts


def write_makefile(plan: StudyPlan, path: Path, global_args: list[str], program: str = "molpeft") -> None:
    """The same graph as a Makefile: one target per step (its manifest), so `make -j N` runs cells in parallel."""
    from molpeft_cli.data.atomic import write_text_atomic

    names = {s.name: s for s in plan.steps}
    lines = [f"# molpeft study: profile {plan.profile.name}; made by `molpeft run --makefile`.",
             f"MOLPEFT ?= {program}", "",
             # every step: the audit's outputs are read by the report without being its prerequisite
             "all: " + " ".join(str(s.manifest) for s in plan.steps), "", ".PHONY: all", ""]
    for step in plan.steps:
        deps = " ".join(str(names[d].manifest) for d in step.deps if d in names)
        lines.append(f"{step.manifest}: {deps}".rstrip())
        lines.append("\t$(MOLPEFT) " + shlex.join([*global_args, *step.argv]))
        lines.append("")
    write_text_atomic(path, "\n".join(lines))
