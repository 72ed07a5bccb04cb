"""Human messages: one Rich console on stderr (stdout carries data only), with a verbosity level."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Piped stderr (logs, Makefiles) gets a wide console instead of Rich's 80 columns so tables stay readable.
_width = None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 120
console = Console(stderr=True, highlight=False, width=_width)

_verbosity = 0


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def info(message: str) -> None:
    """Normal progress message; hidden by -q."""
    if _verbosity >= 0:
        console.print(message)


def detail(message: str) -> None:
    """Extra detail; shown with -v."""
    if _verbosity >= 1:
        console.print(f"[dim]{message}[/dim]")


def warn(message: str) -> None:
    """Warnings are always shown."""
    console.print(f"[bold yellow]warning:[/bold yellow] {message}")


def error(message: str) -> None:
    console.print(f"[bold red]error:[/bold red] {message}")
