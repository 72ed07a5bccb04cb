"""The whole study from one profile (data, split, audit, stage-1 MLM, selections, the adapter x selection grid over
seeds, eval, report): plan it, then run the steps that are not up to date."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from molpeft_cli.choices import FEATURE_SETS, NO_SELECTION, SELECTION_STRATEGIES
from molpeft_cli.data.lock import LOCK_NAME
from molpeft_cli.errors import InputError, MolpeftError, SettingError
from molpeft_cli.pipeline.profiles import ADAPTERS, PROFILES, SELECTIONS
from molpeft_cli.schema import config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import TASK_CHOICES
from molpeft_cli.training.options import FinetuneOptions

log = logging.getLogger(__name__)

_MORE_STRATEGIES = [s for s in SELECTION_STRATEGIES if s not in SELECTIONS]  # registered, not in the default grid


class TimeLimitReached(MolpeftError):
    """`run --time-limit` stopped starting steps before the plan was done; a rerun resumes."""

    exit_code = 75  # EX_TEMPFAIL: not done yet, try again


@dataclass
class StudyConfig:
    command: ClassVar[str] = "run"

    output: str = option(help="Run directory (created; reused to resume).", flags=("--output", "-o"))
    profile: str = option("quick", f"One of {', '.join(PROFILES)}.")
    data: str = option("lipophilicity", "The dataset: a bundled name, a CSV/parquet path or an http(s) URL, as "
                       "`molpeft data` takes.")
    smiles_col: str | None = option(None, "The dataset's SMILES column (default: detected).")
    label_col: str | None = option(None, "The dataset's label column (default: detected); the pool's too, when "
                                   "it has a column of that name.")
    id_col: str | None = option(None, "The dataset's identifier column (default: detected, else InChIKey).")
    task: str = option("auto", "regression, classification (binary), or auto: classification when the labels "
                       "have exactly two values (the data step decides and says so; every cell is trained, "
                       "evaluated and reported for that task).")
    pool: str | None = option(None, "Pool CSV/parquet with SMILES and labels; default: carve one out of the "
                              "dataset (whole scaffold groups).")
    model: str | None = option(None, "Base model instead of the profile's.")
    seeds: list[int] | None = option(None, "Comma-separated seeds (default: the profile's).", comma=True)
    adapters: list[str] | None = option(None, f"Comma-separated subset of {','.join(ADAPTERS)}.", comma=True)
    selections: list[str] | None = option(None, "Comma-separated selections (default: the original study's "
                                          f"{','.join(SELECTIONS)}; also {','.join(_MORE_STRATEGIES)}).",
                                          comma=True)
    budgets: list[int] | None = option(
        None, "Comma-separated numbers of pool molecules to add (e.g. 50,100,185): every selection cell at each "
        "budget, for curves of the test metric against the budget (default: the profile's one k). The `none` cell "
        "is the zero point and `all` the pool-size end point; a strategy that ranks the pool picks nested sets.",
        comma=True)
    features: list[str] | None = option(
        None, "Molecule features beside the embedding in every cell's head, comma-separated "
        f"({', '.join(FEATURE_SETS)}; `finetune --features`). Off by default: with them the cells compare "
        "encoder + descriptors, not the adapted encoder alone, so report such a run separately.", comma=True)
    dry_run: bool = option(False, "Print the plan (run/skip per step) and stop.", flags=("--dry-run",))
    makefile: str | None = option(None, "Also write the plan as a Makefile here (`make -j N -f PATH` runs cells "
                                  "in parallel).")
    snakefile: str | None = option(None, "Write the plan as a Snakefile here and stop without running it: "
                                   "`snakemake -s PATH -j N` runs it here, `--executor slurm` on a cluster "
                                   "(examples/cluster/).")
    jobs: int = option(1, "Independent steps at once, each in its own worker process with --threads threads "
                       "(default: the cores shared out); the same outputs as one job for the same --threads.", min=1)
    time_limit: float | None = option(None, "Minutes after which no new step starts; the running ones finish, "
                                      "and the run ends with exit status 75 (rerun the same command to resume). "
                                      "For a batch job's wall time or a GPU lease.")
    keep_going: bool = option(False, "After a failed step, run every step that does not depend on it (as make -k); "
                              "the first failure is reported at the end.", flags=("--keep-going",))
    overwrite: bool = option(False, "Start afresh in a run directory that holds another study (another profile, "
                             "dataset or pool): the old study is moved aside to OUTPUT.replaced-TIME, kept, not "
                             "deleted.", flags=("--overwrite",))
    config: str | None = config_option()

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingError("profile", f"unknown {{setting}} {self.profile!r}; choose one of "
                               f"{', '.join(PROFILES)}")
        for name, allowed in (("adapters", ADAPTERS), ("selections", (NO_SELECTION, *SELECTION_STRATEGIES))):
            values = getattr(self, name)
            if values is None:
                continue
            bad = [v for v in values if v not in allowed]
            if bad:
                raise SettingError(name, f"unknown {name}: {', '.join(map(str, bad))}; choose from "
                                   f"{', '.join(allowed)}")
            if not values:
                raise SettingError(name, "{setting} is empty")
        if self.features is not None:
            FinetuneOptions(features=list(self.features))  # the same check as finetune's
        if self.seeds is not None and not self.seeds:
            raise SettingError("seeds", "{setting} is empty")
        from molpeft_cli.schema import check_not_empty, check_numbers

        check_not_empty(self, ("output", "data", "smiles_col", "label_col", "id_col", "pool", "model", "makefile",
                               "snakefile", "config"))
        check_numbers(self, {"seeds": (0, True), "time_limit": (0, False), "budgets": (1, True)})
        if self.budgets is not None:
            if not self.budgets:
                raise SettingError("budgets", "{setting} is empty")
            if len(set(self.budgets)) != len(self.budgets):
                raise SettingError("budgets", f"{{setting}} names a budget twice: {self.budgets}")
            if self.pool is None and max(self.budgets) > PROFILES[self.profile].pool_size:
                raise SettingError("budgets", f"{{setting}} {max(self.budgets)} exceeds the pool of "
                                   f"{PROFILES[self.profile].pool_size} molecules carved for profile {self.profile}")
        if self.task not in TASK_CHOICES:
            raise SettingError("task", f"unknown {{setting}} {self.task!r}; choose one of {', '.join(TASK_CHOICES)}")


@dataclass
class StudyResult:
    run_dir: Path
    plan: Any  # pipeline.plan.StudyPlan
    counts: dict[str, int] = field(default_factory=dict)  # steps run / skipped (dry run: would run / skip)
    seconds: float = 0.0

    @property
    def report(self) -> Path:
        return self.run_dir / "report" / "report.html"


def plan_study(config: StudyConfig):
    from molpeft_cli.data.registry import BUNDLED
    from molpeft_cli.pipeline.plan import build_plan

    chosen = PROFILES[config.profile]
    if config.pool is not None and not Path(config.pool).is_file():
        raise InputError(f"pool file not found: {config.pool}")
    source = config.data
    if source not in BUNDLED and not source.startswith(("http://", "https://")):
        if not Path(source).is_file():
            raise InputError(f"dataset file not found: {source}; not a bundled dataset either (bundled: "
                             f"{', '.join(BUNDLED)}; URLs start with https://)")
        source = str(Path(source).resolve())  # the steps' manifests name one file wherever `run` is started
    columns = {k: v for k, v in (("smiles_col", config.smiles_col), ("label_col", config.label_col),
                                 ("id_col", config.id_col)) if v is not None}
    return build_plan(Path(config.output), chosen, list(config.seeds or chosen.seeds),
                      list(config.adapters or ADAPTERS), list(config.selections or SELECTIONS),
                      str(Path(config.pool).resolve()) if config.pool else None, config.model, source=source,
                      features=config.features, columns=columns, task=config.task, budgets=config.budgets)


def global_args_for(runtime: Runtime, quiet: bool = False) -> list[str]:
    """The global options each step's command line carries (recorded in its manifest and the Makefile)."""
    args = ["-q"] if quiet else []
    if runtime.threads:
        args += ["--threads", str(runtime.threads)]
    if runtime.device != "auto":
        args += ["--device", runtime.device]
    return args


def run_study(config: StudyConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None,
              quiet: bool = False) -> StudyResult:
    """Run the whole study for a profile; steps already done with the same inputs and parameters are skipped.
    `quiet` adds -q to the steps' recorded command lines (the CLI's -q)."""
    from molpeft_cli.data.lock import directory_lock
    from molpeft_cli.pipeline.execute import execute, write_makefile

    plan = plan_study(config)
    global_args = global_args_for(runtime, quiet)
    # the steps' own command lines carry their seeds; others (report) use seed 0, as `make` does
    step_runtime = Runtime(seed=0, threads=runtime.threads, device=runtime.device)
    if config.makefile:
        write_makefile(plan, Path(config.makefile), global_args)
        log.info(f"wrote {config.makefile}")
    description = plan.describe()
    chosen = PROFILES[config.profile]
    log.info(f"profile {config.profile}: {chosen.description}")
    log.info(f"{len(plan.seeds)} seed(s), {len(plan.adapters)} adapters x {len(plan.selections)} selections, "
             f"pool: {'file ' + config.pool if config.pool else 'carved from the dataset'}; {len(plan.steps)} steps")
    run_dir = Path(config.output)
    _check_run_dir(run_dir, description, config.overwrite, dry_run=config.dry_run)
    if config.dry_run:
        return StudyResult(run_dir, plan, execute(plan, global_args, dry_run=True))
    run_dir.mkdir(parents=True, exist_ok=True)
    # a second `run` on this directory refuses instead of redoing each step beside this one
    with directory_lock(run_dir, "run", argv=argv):
        deadline = time.monotonic() + 60 * config.time_limit if config.time_limit else None
        return run_plan(plan, run_dir, description, global_args, step_runtime, argv, config.snakefile,
                        config.jobs, deadline=deadline, keep_going=config.keep_going)


def _check_run_dir(run_dir: Path, description: dict, overwrite: bool = False, dry_run: bool = False) -> None:
    """`run` writes into its directory (and resumes there), so it must be empty, new, or a run of the same study
    (`study_of`); a run of another study is refused, or with `overwrite` moved aside (kept) for a fresh start."""
    from molpeft_cli.data.outputs import OutputError, check_outputs

    if run_dir.is_dir() and any(p.name != LOCK_NAME for p in run_dir.iterdir()) and \
            not (run_dir / "run.json").is_file():
        raise OutputError("output", f"{{setting}} {run_dir} is not a molpeft run directory (no run.json) and is "
                          "not empty; its files could be overwritten: choose a new or empty folder")
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputError("output", f"{{setting}} {run_dir} exists and is a file, not a folder")
    if (run_dir / "run.json").is_file():
        try:
            recorded = json.loads((run_dir / "run.json").read_text())
            old = study_of(recorded) if isinstance(recorded, dict) else None
        except (OSError, ValueError):
            old = None
        new = study_of(description)
        if old is not None and old["pool"] is None:  # not recorded (an older run.json): not compared
            new["pool"] = None
        if old != new:
            held = "a run whose run.json cannot be read" if old is None else \
                f"a run of another study ({_difference(old, new)})"
            if not overwrite:
                raise OutputError("output", f"{{setting}} {run_dir} holds {held}; running here would overwrite it "
                                  "step by step: choose another {setting}, or give {overwrite} to move the old "
                                  "study aside (kept) and start afresh")
            if dry_run:
                log.warning(f"{run_dir} holds {held}; without --dry-run it is moved aside")
            else:
                _move_aside(run_dir, held)
    if not dry_run:
        check_outputs("run", {"output": run_dir / "run.json"})  # writable, and our stale temporaries cleaned


def study_of(description: dict) -> dict:
    """What makes a run directory one study, from its run.json: the profile, the dataset (recorded only when it
    is not the bundled lipophilicity) and the pool. Profiles whose steps agree but for their seeds and the report
    are one study (quick and full: full's seed-0 steps are quick's, config for config, so `--profile full` on a
    quick run adds seeds; the report is rebuilt from the cells whenever they change), and `--seeds`,
    `--adapters` and `--selections` only narrow or extend the grid of one study. A pool that run.json does not
    record is None."""
    from dataclasses import replace

    name = description.get("profile")

    def steps_of(profile):
        return replace(profile, name="", description="", seeds=(), report=None)

    if name in PROFILES:  # the first profile of its family names it
        name = next(other for other in PROFILES if steps_of(PROFILES[other]) == steps_of(PROFILES[name]))
    return {"profile": name, "data": description.get("data") or {"source": "lipophilicity"},
            "pool": description.get("pool")}


def _difference(old: dict, new: dict) -> str:
    def shown(key: str, value: Any) -> str:
        if key == "pool" and isinstance(value, dict):
            return f"file {value.get('path')}" if value.get("kind") == "file" else \
                f"carved, {value.get('n')} molecules"
        if key == "data" and isinstance(value, dict):
            return ", ".join([str(value.get("source"))] + [f"{k} {v}" for k, v in value.items() if k != "source"])
        return str(value)

    names = {"profile": "profile", "data": "dataset", "pool": "pool"}
    keys = [k for k in new if old.get(k) != new[k]]
    if "profile" in keys and all(isinstance(v, dict) and v.get("kind") == "carved" for v in (old.get("pool"),
                                                                                         new["pool"])):
        keys.remove("pool")  # a carved pool's size is the profile's
    return "; ".join(f"{names[k]} {shown(k, old.get(k))}, not {shown(k, new[k])}" for k in keys)


def _move_aside(run_dir: Path, held: str) -> None:
    """Rename the run directory (the folder itself, where a link points) to NAME.replaced-TIME beside it, while
    holding its lock (so never from under a running `run`), and make it afresh; nothing is deleted."""
    import os

    from molpeft_cli.data.lock import directory_lock
    from molpeft_cli.data.outputs import OutputError

    real = Path(os.path.realpath(run_dir))
    cwd = Path.cwd().resolve()
    if cwd == real or real in cwd.parents:
        raise OutputError("output", f"{{setting}} {run_dir} is the current folder or holds it; it cannot be moved "
                          "aside from inside: run from another folder")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = real.with_name(f"{real.name}.replaced-{stamp}")
    number = 1
    while aside.exists():
        number += 1
        aside = real.with_name(f"{real.name}.replaced-{stamp}-{number}")
    with directory_lock(real, "run"):
        os.replace(real, aside)
    real.mkdir()
    log.warning(f"{run_dir} held {held}; it was moved aside to {aside} (kept: remove it when it is no longer "
                "needed), and this run starts afresh")


def run_plan(plan, run_dir: Path, description: dict, global_args: list[str], step_runtime: Runtime,
             argv: list[str] | None, snakefile: str | None = None, jobs: int = 1, deadline: float | None = None,
             keep_going: bool = False) -> StudyResult:
    """Run a planned study in `run_dir` (already locked by the caller): write run.json, execute the steps on `jobs`
    workers (or write the Snakefile and stop), and append this invocation to run_history.jsonl."""
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.manifest import now
    from molpeft_cli.pipeline.execute import execute

    # run.json describes the study and stays byte-identical while the plan does (the report reads it, so a
    # timestamp in it would make the report look out of date); each invocation appends to run_history.jsonl
    run_json = json.dumps(description, indent=2) + "\n"
    if not (run_dir / "run.json").exists() or (run_dir / "run.json").read_text() != run_json:
        write_text_atomic(run_dir / "run.json", run_json)
    if snakefile:
        from molpeft_cli.pipeline.snakefile import write_snakefile

        write_snakefile(plan, Path(snakefile), global_args, threads=step_runtime.threads or 1,
                        gpus=1 if _cuda_requested(step_runtime.device) else 0)
        log.info(f"wrote {snakefile}; run it with `snakemake -s {snakefile} -j 2` (nothing ran here)")
        return StudyResult(run_dir, plan, {"run": 0, "skipped": 0})
    started, clock = now(), time.perf_counter()
    counts: dict[str, int] = {"run": 0, "skipped": 0}
    status = "failed"
    try:
        if jobs > 1:
            from molpeft_cli.pipeline.parallel import execute_parallel

            execute_parallel(plan, global_args, jobs, step_runtime, counts=counts, deadline=deadline,
                             keep_going=keep_going)
        else:
            execute(plan, global_args, runtime=step_runtime, counts=counts, deadline=deadline,
                    keep_going=keep_going)
        status = "time limit" if counts.get("not_started") else "completed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:  # a failed or interrupted invocation is recorded too, with the steps it finished
        record = {"started": started, "ended": now(), "seconds": round(time.perf_counter() - clock, 1),
                  "status": status, "steps": len(plan.steps), "steps_run": counts["run"],
                  "steps_skipped": counts["skipped"], "steps_not_started": counts.get("not_started", 0),
                  "jobs": jobs, "argv": list(argv or [])}
        with open(run_dir / "run_history.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
    if status == "time limit":
        raise TimeLimitReached(f"time limit reached after {record['seconds'] / 60:.1f} min: {counts['run']} steps "
                               f"run, {counts['not_started']} not started; rerun the same command to resume")
    log.info(f"done in {record['seconds']:.0f} s ({counts['run']} steps run, {counts['skipped']} up to date); "
             f"report: {run_dir / 'report' / 'report.html'}")
    return StudyResult(run_dir, plan, counts, record["seconds"])


def _cuda_requested(device: str) -> bool:
    """Whether the study's model steps want a GPU: `cuda[:N]`, or `auto` where CUDA is available."""
    if device == "auto":
        import torch

        return torch.cuda.is_available()
    return device.startswith("cuda")
