"""`molpeft run`: the whole study (data, split, audit, stage-1 MLM, selections, the adapter x selection grid over
seeds, eval, report) from one profile, resumable."""

from __future__ import annotations

from typing import Annotated

import typer

from molpeft_cli.pipeline.profiles import ADAPTERS, PROFILES, SELECTIONS


def run(
    output: Annotated[str, typer.Option("--output", "-o", help="Run directory (created; reused to resume).")],
    profile: Annotated[str, typer.Option(help=f"One of {', '.join(PROFILES)}.")] = "quick",
    pool: Annotated[str | None, typer.Option(help="Pool CSV/parquet with SMILES and labels; default: carve "
                                             "one out of the dataset (whole scaffold groups).")] = None,
    model: Annotated[str | None, typer.Option(help="Base model instead of the profile's.")] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds (default: the profile's).")] = None,
    adapters: Annotated[str | None, typer.Option(help=f"Comma-separated subset of {','.join(ADAPTERS)}.")] = None,
    selections: Annotated[str | None, typer.Option(help=f"Comma-separated subset of "
                                                   f"{','.join(SELECTIONS)}.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (run/skip per step) and stop.")] = False,
    makefile: Annotated[str | None, typer.Option(help="Also write the plan as a Makefile here "
                                                 "(`make -j N -f PATH` runs cells in parallel).")] = None,
) -> None:
    """Run the whole study for a profile; steps already done with the same inputs and parameters are skipped."""
    import json
    import sys
    import time
    from pathlib import Path

    from molpeft_cli.console import info, verbosity
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.manifest import now
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.pipeline.execute import execute, write_makefile
    from molpeft_cli.pipeline.plan import build_plan
    from molpeft_cli.settings import settings

    if profile not in PROFILES:
        raise MolpeftError(f"unknown --profile {profile!r}; choose one of {', '.join(PROFILES)}")
    chosen = PROFILES[profile]
    seed_list = _parse_list(seeds, None, "seeds", int) if seeds else list(chosen.seeds)
    adapter_list = _parse_list(adapters, ADAPTERS, "adapters") if adapters else list(ADAPTERS)
    selection_list = _parse_list(selections, SELECTIONS, "selections") if selections else list(SELECTIONS)
    if pool is not None and not Path(pool).is_file():
        raise MolpeftError(f"pool file not found: {pool}")
    run_dir = Path(output)
    plan = build_plan(run_dir, chosen, seed_list, adapter_list, selection_list,
                      str(Path(pool).resolve()) if pool else None, model)
    global_args = (["-q"] if verbosity() < 0 else []) + (["--threads", str(settings.threads)]
                                                         if settings.threads else [])
    if makefile:
        write_makefile(plan, Path(makefile), global_args)
        info(f"wrote {makefile}")
    description = plan.describe()
    info(f"profile {profile}: {chosen.description}")
    info(f"{len(seed_list)} seed(s), {len(adapter_list)} adapters x {len(selection_list)} selections, "
         f"pool: {'file ' + pool if pool else 'carved from the dataset'}; {len(plan.steps)} steps")
    if dry_run:
        execute(plan, global_args, dry_run=True)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    # run.json describes the study and stays byte-identical while the plan does (the report reads it, so a
    # timestamp in it would make the report look out of date); each invocation appends to run_history.jsonl
    run_json = json.dumps(description, indent=2) + "\n"
    if not (run_dir / "run.json").exists() or (run_dir / "run.json").read_text() != run_json:
        write_text_atomic(run_dir / "run.json", run_json)
    started, clock = now(), time.perf_counter()
    counts = execute(plan, global_args)
    record = {"started": started, "ended": now(), "seconds": round(time.perf_counter() - clock, 1),
              "steps": len(plan.steps), "steps_run": counts["run"], "steps_skipped": counts["skipped"],
              "argv": sys.argv}
    with open(run_dir / "run_history.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    info(f"done in {record['seconds']:.0f} s ({counts['run']} steps run, {counts['skipped']} up to date); "
         f"report: {run_dir / 'report' / 'report.html'}")


def _parse_list(text: str, allowed, what: str, cast=str) -> list:
    from molpeft_cli.errors import MolpeftError

    items = [t.strip() for t in text.split(",") if t.strip()]
    try:
        values = [cast(t) for t in items]
    except ValueError:
        raise MolpeftError(f"--{what} must be comma-separated integers, got {text!r}") from None
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise MolpeftError(f"unknown {what}: {', '.join(map(str, bad))}; choose from {', '.join(allowed)}")
    if not values:
        raise MolpeftError(f"--{what} is empty")
    return values


def register(app: typer.Typer) -> None:
    app.command("run")(run)
