"""Atomic writes: build the output under a temporary name in the same folder, then rename it into place.

An interrupted command therefore never leaves a partial file (or directory) under the final name. Temporaries are
named `.NAME.~PID.XXXXXXXX.tmp` (and `.old` for a replaced directory on its way out), so a later run can tell its
own leftovers from a process that was killed (see `clean_stale_temporaries`).

What is at the final name decides how it is written (the policy `data.outputs.check_outputs` applies to every
command's outputs before any work, and these functions apply again as the last line of defence):
- a symbolic link is followed: the file (or folder) it points to is replaced, in the target's own folder, and the
  link stays a link;
- a device (even `/dev/null`), a FIFO or a socket is refused (`SpecialFileError`): an atomic write replaces the
  entry by rename, which would put a regular file in place of the device, and writing into it instead would give
  up "no partial output" (a reader of a FIFO sees half a table) and leave the manifest with no place beside it.
  `-o -` writes to stdout, so `-o - > /dev/null` discards an output.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from molpeft_cli.errors import MolpeftError

# `.NAME.~PID.RANDOM.tmp|old` (this version) and `.NAME.RANDOM.tmp|old` (before the pid was recorded)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+?)\.(?:~(?P<pid>\d+)\.)?[A-Za-z0-9_]{8}\.(?P<kind>tmp|old)$")
LEGACY_STALE_AFTER_S = 3600.0


def _prefix(final: Path) -> str:
    return f".{final.name}.~{os.getpid()}."


class SpecialFileError(MolpeftError):
    """An output path names a device, a FIFO or a socket, which an atomic write would replace."""


def special_kind(path: str | os.PathLike) -> str | None:
    """What a path is when it is neither a regular file nor a folder (following links): 'character device',
    'block device', 'FIFO' or 'socket'; None for a file, a folder, or nothing."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, kind in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return kind
    return None


SPECIAL_ADVICE = ("molpeft replaces an output whole, so it does not write into one: give a file name, or - for "
                  "stdout (`-o - > DEVICE`)")


def write_target(final: str | os.PathLike) -> Path:
    """Where a write to `final` lands: the file a symbolic link points to (the link stays), else `final`. Refuses a
    device, a FIFO or a socket."""
    final = Path(final)
    target = Path(os.path.realpath(final)) if final.is_symlink() else final
    kind = special_kind(target)
    if kind is not None:
        shown = f"{final} (a link to {target})" if target != final else str(final)
        raise SpecialFileError(f"{shown} is a {kind}, not a regular file; {SPECIAL_ADVICE}")
    return target


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside `final`; on success it replaces `final`, on error it is removed. A link at
    `final` is followed (its target is replaced in its own folder); a device, FIFO or socket is refused."""
    final = write_target(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(final), suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `final`; on success it replaces `final`. An old `final` is first
    renamed aside (one rename, so there is never a moment with neither) and removed only once the new one is in
    place. A link at `final` is followed, as by `atomic_path`."""
    final = write_target(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(final), suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=_prefix(final), suffix=".old", dir=final.parent))
            os.replace(final, old / "previous")
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old / "previous", final)  # put the old output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes_atomic(final: str | os.PathLike, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(final, text.encode("utf-8"))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def stale_temporaries(final: str | os.PathLike) -> list[Path]:
    """Our own temporaries beside `final` whose writer is gone: its pid no longer runs, or (for names from
    before pids were recorded) it is older than an hour."""
    final = Path(final)
    folder = final.parent
    if not folder.is_dir():
        return []
    stale = []
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["name"] != final.name:
            continue
        if match["pid"] is not None:
            if _pid_alive(int(match["pid"])):
                continue
        else:
            try:
                age = time.time() - entry.lstat().st_mtime
            except OSError:
                continue
            if age < LEGACY_STALE_AFTER_S:
                continue
        stale.append(entry)
    return sorted(stale)


def clean_stale_temporaries(final: str | os.PathLike) -> list[Path]:
    """Remove the stale temporaries `stale_temporaries` finds; return what was removed."""
    removed = []
    for entry in stale_temporaries(final):
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
