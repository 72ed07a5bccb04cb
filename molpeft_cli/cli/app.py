"""The `molpeft` app: global options, logging on stderr, error handling, and the subcommands."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from molpeft_cli import __version__
from molpeft_cli.console import error, library_logging, set_verbosity, verbosity
from molpeft_cli.errors import MolpeftError
from molpeft_cli.settings import Runtime, apply_threads


class MolpeftGroup(TyperGroup):
    """Turns user errors into one red line (settings named as the command's flags) and a non-zero exit;
    tracebacks only with -v."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MolpeftError as exc:
            from molpeft_cli.cli.options import flag_for

            command = ctx.invoked_subcommand
            error(exc.render(lambda setting: flag_for(command, setting)))
            raise typer.Exit(exc.exit_code) from None
        except (TyperException, typer.Exit, typer.Abort, BrokenPipeError):  # usage errors, --help, exits, `| head`
            raise
        except KeyboardInterrupt:
            error("interrupted; no partial output was written")
            raise typer.Exit(130) from None
        except Exception as exc:  # an unexpected failure: say what, keep the traceback behind -v
            if verbosity() >= 1:
                raise
            error(f"unexpected {type(exc).__name__}: {exc} (rerun with -v for the traceback)")
            raise typer.Exit(1) from None


class SettingFlags(logging.Filter):
    """A library log record that names settings (logged as a `SettingError`, whose text shows setting names) is
    shown with the command's flags instead, as errors are."""

    def __init__(self, command: str | None) -> None:
        super().__init__()
        self.command = command

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, MolpeftError):
            from molpeft_cli.cli.options import flag_for

            record.msg = record.msg.render(lambda setting: flag_for(self.command, setting))
        return True


app = typer.Typer(
    cls=MolpeftGroup,
    name="molpeft",
    help="Choose extra training data and a parameter-efficient fine-tuning method for MoLFormer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"molpeft {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Global random seed (a command's own --seed wins).")] = 0,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail (repeatable).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for torch/BLAS.")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu, or cuda[:N].")] = "auto",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    level = -1 if quiet else verbose
    set_verbosity(level)
    handler = ctx.with_resource(library_logging(level))  # the library's log records on stderr until the command ends
    handler.addFilter(SettingFlags(ctx.invoked_subcommand))
    apply_threads(threads)
    ctx.obj = Runtime(seed=seed, threads=threads, device=device)


def _register() -> None:
    """Every command, in the order `molpeft --help` lists them: one module per command under cli/."""
    from molpeft_cli.cli import (
        audit,
        carve,
        data,
        evaluate,
        finetune,
        influence,
        influence_check,
        mlm,
        predict,
        report,
        run,
        select,
        split,
        tune,
    )

    for module in (data, carve, split, audit, mlm, finetune, tune, evaluate, predict, influence, influence_check,
                   select, run, report):
        module.register(app)


_register()


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # e.g. `molpeft data ... -o - | head`
        sys.stderr.close()
        sys.exit(141)
