"""Run a study plan's independent steps at the same time, each in its own worker process (`molpeft run --jobs N`).

The plan's dependency graph decides what may run together: a step starts once every step it depends on has
finished, and then (as in the one-process order) is skipped when its manifest still matches its command line and
inputs. Workers are spawned (not forked) processes, each limited to its own thread count, and each step runs in
them exactly as `run_step` runs it in one process, so the outputs and manifests are the same as with one job (for
the same `--threads`: floating-point sums depend on the thread count). A worker's log records go to
RUN_DIR/logs/<step>.log, so parallel steps do not interleave on the terminal.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from molpeft_cli.errors import MolpeftError
from molpeft_cli.pipeline.plan import Step, StudyPlan
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


def worker_threads(jobs: int, threads: int | None) -> int:
    """Threads per worker: the global --threads when given, else the machine's cores shared out among the jobs."""
    if threads:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // jobs)


def log_path(plan: StudyPlan, step: Step) -> Path:
    return plan.run_dir / "logs" / (step.name.replace(":", "_") + ".log")


def _init_worker(threads: int) -> None:
    # before torch or numpy load in this process, so their thread pools are sized once
    import signal

    from molpeft_cli.settings import apply_threads

    apply_threads(threads)
    # the parent forwards SIGTERM: end the step as Ctrl-C would (atomic writes remove their temporaries) instead of
    # dying mid-write
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame) -> None:
    import signal

    from molpeft_cli.errors import Terminated

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one while cleaning up is ignored
    raise Terminated()


def _run_in_worker(step: Step, global_args: list[str], runtime: Runtime, log_file: str) -> float:
    from molpeft_cli.pipeline.execute import run_step

    started = time.perf_counter()
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with open(log_file, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            run_step(step, global_args, runtime)
        except MolpeftError as exc:  # as a plain MolpeftError: subclasses may not survive the trip back (pickle)
            error = MolpeftError(str(exc))
            error.exit_code = exc.exit_code
            raise error from None
        finally:
            root.removeHandler(handler)
    return time.perf_counter() - started


def execute_parallel(plan: StudyPlan, global_args: list[str], jobs: int, runtime: Runtime = Runtime(),
                     counts: dict[str, int] | None = None, deadline: float | None = None,
                     keep_going: bool = False) -> dict[str, int]:
    """Run the steps that are not up to date on `jobs` workers, in dependency order; the first failure stops new
    steps from starting, lets the running ones finish, and is raised. `counts` as in `execute`.

    `keep_going` (as `make -k`): a failure stops only the steps that depend on the failed one; the others run, and
    the first failure is raised at the end. `deadline` (a `time.monotonic()` value): no step starts after it, the
    running ones finish, and the steps left are counted in counts["not_started"] instead of raising, so a time-boxed
    caller (a GPU lease, a batch job's wall time) ends cleanly and a rerun resumes where it stopped."""
    from molpeft_cli.pipeline.execute import is_current

    names = {s.name for s in plan.steps}
    deps = {s.name: [d for d in s.deps if d in names] for s in plan.steps}
    done: set[str] = set()
    pending = list(plan.steps)  # plan order: among the ready steps, the earliest goes first
    running: dict[Future, Step] = {}
    counts = counts if counts is not None else {}
    counts.update(run=0, skipped=0)
    failure: BaseException | None = None
    failed: set[str] = set()
    out_of_time = False
    total, per_worker = len(plan.steps), worker_threads(jobs, runtime.threads)
    worker_runtime = Runtime(seed=runtime.seed, threads=per_worker, device=runtime.device)
    log.info(f"{jobs} workers, {per_worker} thread(s) each; each step's messages go to {plan.run_dir / 'logs'}")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(per_worker,)) as pool:
        while pending or running:
            progressed = True
            if deadline is not None and not out_of_time and time.monotonic() >= deadline:
                out_of_time = True
                log.warning(f"time limit reached: no new step starts ({len(pending)} left; rerun to resume)")
            while progressed and (failure is None or keep_going) and not out_of_time:
                progressed = False
                for step in list(pending):
                    if len(running) >= jobs:
                        break
                    if not all(d in done for d in deps[step.name]):
                        continue
                    pending.remove(step)
                    progressed = True
                    number = plan.steps.index(step) + 1
                    if is_current(step):
                        counts["skipped"] += 1
                        done.add(step.name)
                        log.info(f"[{number:>3}/{total}] up to date: {step.name}")
                        continue
                    log.info(f"[{number:>3}/{total}] {step.name} started")
                    running[pool.submit(_run_in_worker, step, global_args, worker_runtime,
                                        str(log_path(plan, step)))] = step
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                step = running.pop(future)
                try:
                    seconds = future.result()
                except BaseException as exc:  # noqa: BLE001 (kept, re-raised once the running steps end)
                    failure = failure or exc
                    failed.add(step.name)
                    log.error(f"    {step.name} failed; its messages: {log_path(plan, step)}")
                    continue
                done.add(step.name)
                counts["run"] += 1
                log.info(f"    {step.name} took {seconds:.1f} s")
    counts["not_started"] = len(pending)
    if failure is not None:
        if keep_going and pending:
            log.error(f"{len(failed)} step(s) failed; {len(pending)} could not start after them: "
                      + ", ".join(s.name for s in pending[:5]) + (" ..." if len(pending) > 5 else ""))
        raise failure
    if out_of_time:
        return counts
    if pending:
        raise MolpeftError(f"{len(pending)} steps could not start (a dependency is missing from the plan): "
                           + ", ".join(s.name for s in pending[:5]))
    return counts
