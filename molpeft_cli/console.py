"""The CLI's human output: one Rich console on stderr (stdout carries data only), the log handler that shows the
library's `logging` records on it at the chosen verbosity, and Rich progress bars for the library's loops.

Only `molpeft_cli.cli` uses this module; the library logs and takes a progress factory from its caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from rich.console import Console
from rich.text import Text

# Piped stderr (logs, Makefiles) gets a wide console instead of Rich's 80 columns so tables stay readable.
_width = None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 120
console = Console(stderr=True, highlight=False, width=_width)

LIBRARY_LOGGER = "molpeft_cli"
_verbosity = 0


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def info(message: str) -> None:
    """Normal progress message (Rich markup allowed); hidden by -q."""
    if _verbosity >= 0:
        console.print(message)


def warn(message: str) -> None:
    """Warnings are always shown."""
    console.print(Text.assemble(("warning:", "bold yellow"), " ", message))


def error(message: str) -> None:
    # one line whatever its length (a long path must not split it): the terminal may wrap it, Rich does not
    console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


class ConsoleHandler(logging.Handler):
    """Library log records on the console: info as is, debug dimmed, warnings and errors with a prefix. Messages
    are plain text (never read as Rich markup: SMILES have brackets)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            if record.levelno >= logging.ERROR:
                error(message)
            elif record.levelno >= logging.WARNING:
                warn(message)
            elif record.levelno >= logging.INFO:
                console.print(Text(message))
            else:
                console.print(Text(message, style="dim"))
        except Exception:  # a logging failure must not end the command
            self.handleError(record)


def level_for(verbosity_level: int) -> int:
    return logging.DEBUG if verbosity_level >= 1 else logging.INFO if verbosity_level == 0 else logging.WARNING


@contextlib.contextmanager
def library_logging(verbosity_level: int):
    """Show the library's log records on the console while a command runs (-v: debug too; -q: warnings only)."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler = ConsoleHandler()
    saved_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level_for(verbosity_level))
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)


class _RichBar:
    def __init__(self, progress, task):
        self._progress, self._task = progress, task

    def update(self, completed: int, status: str = "") -> None:
        self._progress.update(self._task, completed=completed, status=status)


@contextlib.contextmanager
def rich_progress(name: str, total: int, completed: int = 0):
    """A transient Rich bar for a library loop (a `molpeft_cli.progress.ProgressFactory`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(name), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[status]}"), console=console, transient=True) as bar:
        task = bar.add_task(name, total=total, completed=completed, status="")
        yield _RichBar(bar, task)


def progress_factory():
    """Rich bars on an interactive terminal unless -q; otherwise none (the library logs a status line instead)."""
    return rich_progress if console.is_terminal and _verbosity >= 0 else None
