"""The `molpeft` app: global options, logging on stderr, error handling, signals, and the subcommands.

Every way a command can end badly ends in one `error:` line on stderr and an exit status:
2 a user error (`MolpeftError`) or a usage error (an unknown option, a missing argument, a bad value; with
Typer's hint on the same line), 1 an environment error at work (`OSError`: a full disk, a read-only folder) or an
unexpected failure, 130 Ctrl-C (SIGINT), 143 SIGTERM (handled as Ctrl-C is: the same cleanup, no partial output),
141 a closed stdout (the reader of `-o -` went away: what it got is incomplete).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Annotated

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from molpeft_cli import __version__
from molpeft_cli.console import error, library_logging, set_verbosity, verbosity
from molpeft_cli.errors import MolpeftError, Terminated
from molpeft_cli.settings import Runtime, apply_threads

EXIT_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer whose reader went away
EXIT_ERROR = 1
@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[dict]:
    """While a command runs, SIGTERM raises `Terminated` (a KeyboardInterrupt) where the process is, so it ends as
    Ctrl-C does: temporaries removed, the invocation recorded, one line, exit 143. Worker processes (`run --jobs`)
    get the signal too. A second SIGTERM while the first one's cleanup runs is ignored, so the cleanup finishes.
    Only the main thread can set a handler; elsewhere (a library caller's thread) nothing changes. Yields a dict
    whose "received" says whether SIGTERM came."""
    state = {"received": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if state["received"]:
            return
        state["received"] = True
        import multiprocessing

        for child in multiprocessing.active_children():  # `run --jobs` workers: they stop too
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGTERM)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def usage_line(exc: Exception) -> str:
    """A Typer/click usage error as one line: the message, then Typer's hint (`Try 'molpeft X -h' for help.`)."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message = f"{message.rstrip('.')}. Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
    return message


def _quiet_stdout() -> None:
    """After stdout failed (its reader left, or its device is full), point it at /dev/null, so that Python's own
    flush at exit neither fails again nor prints "Exception ignored"."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def os_error_line(exc: OSError) -> str:
    """An OSError at work (writing an output, reading an input) as one line a user can act on."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    name = errno.errorcode.get(exc.errno or -1)
    where = exc.filename if exc.filename is not None else "stdout" if exc.errno in (errno.ENOSPC, errno.EIO) else None
    text = f"cannot write {where}: {reason}" if where == "stdout" else \
        f"{where}: {reason}" if where is not None else reason
    if name:
        text += f" ({name})"
    if where == "stdout":
        text += "; what was written to stdout is incomplete"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        text += "; outputs are written whole or not at all, so none was left half-written: free space and rerun"
    return text


class MolpeftGroup(TyperGroup):
    """Turns user errors into one red line (settings named as the command's flags) and a non-zero exit;
    tracebacks only with -v."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's main, with usage errors as one line and SIGTERM handled as Ctrl-C (see the module docstring)."""
        code = 0
        with sigterm_as_interrupt() as signals:
            try:
                result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                code = result if isinstance(result, int) else 0
            except TyperException as exc:  # click's usage errors (Typer's own click)
                if type(exc).__name__ != "NoArgsIsHelpError":  # `molpeft` alone: Typer has shown the help
                    error(usage_line(exc))
                code = getattr(exc, "exit_code", 2)
            except typer.Abort:
                error("interrupted; no partial output was written")
                code = 130
        if signals["received"] and code == 130:  # Typer turns an interrupt outside a command (parsing) into 130
            code = Terminated.exit_code
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MolpeftError as exc:
            from molpeft_cli.cli.options import flag_for

            command = ctx.invoked_subcommand
            error(exc.render(lambda setting: flag_for(command, setting)))
            raise typer.Exit(exc.exit_code) from None
        except (TyperException, typer.Exit, typer.Abort):  # usage errors, --help, exits
            raise
        except BrokenPipeError:  # `molpeft data ... -o - | head`: the reader left before the output was written
            _quiet_stdout()
            error("stdout was closed before the whole output was written (broken pipe); what its reader got is "
                  "incomplete")
            raise typer.Exit(EXIT_PIPE) from None
        except Terminated:
            error("terminated (SIGTERM); no partial output was written")
            raise typer.Exit(Terminated.exit_code) from None
        except KeyboardInterrupt:
            error("interrupted; no partial output was written")
            raise typer.Exit(130) from None
        except OSError as exc:  # the environment at work: a full disk, a read-only folder, a vanished file
            if verbosity() >= 1:
                raise
            if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO):  # stdout's device failed
                _quiet_stdout()
            error(os_error_line(exc))
            raise typer.Exit(EXIT_ERROR) from None
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
    runtime = Runtime(seed=seed, threads=threads, device=device)  # checks them: one line for a bad value
    level = -1 if quiet else verbose
    set_verbosity(level)
    handler = ctx.with_resource(library_logging(level))  # the library's log records on stderr until the command ends
    handler.addFilter(SettingFlags(ctx.invoked_subcommand))
    apply_threads(threads)
    ctx.obj = runtime


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
    except BrokenPipeError:  # stdout closed outside a command (its help, say): nothing of ours was lost
        _quiet_stdout()
        sys.exit(EXIT_PIPE)
