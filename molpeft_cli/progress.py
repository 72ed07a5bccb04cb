"""Progress of long loops. The library reports through a `ProgressFactory` that its caller passes in (the CLI
draws Rich bars on a terminal); without one, nothing is drawn and a loop may log a status line now and then."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


class ProgressBar(Protocol):
    def update(self, completed: int, status: str = "") -> None: ...


# name, total, already completed -> a context manager yielding the bar
ProgressFactory = Callable[[str, int, int], AbstractContextManager[ProgressBar]]
