"""`molpeft run`: the whole study (data, split, audit, stage-1 MLM, selections, the adapter x selection grid over
seeds, eval, report) from one profile, resumable."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.pipeline.study import StudyConfig


def print_plan(result, global_args: list[str]) -> None:
    from molpeft_cli.console import console
    from molpeft_cli.pipeline.execute import command_line, plan_status

    statuses = plan_status(result.plan)
    for i, (step, current) in enumerate(statuses, 1):
        mark = "skip" if current else "run "
        console.print(f"[{i:>3}/{len(statuses)}] {mark} {command_line(step, global_args)}", soft_wrap=True,
                      markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: StudyConfig) -> None:
        from molpeft_cli.console import verbosity
        from molpeft_cli.pipeline.study import global_args_for, run_study

        runtime = runtime_of(ctx)
        result = run_study(config, runtime, argv(), quiet=verbosity() < 0)
        if config.dry_run:
            print_plan(result, global_args_for(runtime, verbosity() < 0))

    step_command(app, "run", StudyConfig, handle, "Run the whole study for a profile; steps already done with the "
                 "same inputs and parameters are skipped.")
