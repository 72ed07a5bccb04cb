"""A lock file per run directory, so two `molpeft` processes never work on one directory at once.

The lock is an advisory `flock` on `DIR/.molpeft.lock`: the kernel drops it when the holder exits (even when
killed), so there are no stale locks to clean. The file records the holder's pid and command for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from molpeft_cli.errors import MolpeftError

LOCK_NAME = ".molpeft.lock"


class LockedError(MolpeftError):
    """Another process holds the directory's lock."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another molpeft process"
    pid, command = info.get("pid"), info.get("command")
    return f"molpeft {command} (pid {pid}, since {info.get('since', '?')})" if pid else "another molpeft process"


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike, command: str, wait_s: float = 0.0,
                   argv: list[str] | None = None) -> Iterator[Path]:
    """Hold `DIR/.molpeft.lock` while the block runs; refuse (LockedError) when another process holds it, after
    waiting up to `wait_s` seconds."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(f"{directory} is in use by {_holder(path)}; wait for it to finish "
                                      f"(or stop it) and run again") from None
                time.sleep(0.2)
        record = {"pid": os.getpid(), "command": command, "argv": list(argv or []),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
