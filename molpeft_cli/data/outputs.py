"""The output policy, one place for every command: never clobber what is not ours.

Before a command does any work it calls `check_outputs`, which refuses
- an output that is one of the command's inputs (or, for a directory output, a folder that holds an input, the
  current folder, or one of its parents);
- an existing directory that is not an output of the same kind of `molpeft` command (recognised by the
  `manifest.json` inside it), unless `overwrite` is given -- and even then the old folder is only renamed aside,
  and removed once the new one is in place (see `atomic.atomic_dir`);
- a destination that cannot be written (probed by creating a file there, so read-only mounts are caught);
and it removes our own stale temporaries beside each output (left by a process that was killed).

Roles are named by the caller: the CLI passes flag names (`-o`, `--pool`), the Python API setting names.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from molpeft_cli.data.atomic import clean_stale_temporaries
from molpeft_cli.errors import MolpeftError

STDIO = "-"


class OutputError(MolpeftError):
    """An output that would destroy data or cannot be written."""


@dataclass(frozen=True)
class Output:
    """One output of a command: where, and whether it is a file or a directory replaced as a whole."""

    path: str | os.PathLike
    directory: bool = False


def manifest_command(folder: Path) -> str | None:
    """The `command` recorded in a directory's manifest.json, or None when there is none (or it is unreadable)."""
    try:
        value = json.loads((folder / "manifest.json").read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _same_file(a: Path, b: Path) -> bool:
    if _real(a) == _real(b):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, parent: Path) -> bool:
    child, parent = _real(child), _real(parent)
    return child == parent or parent in child.parents


def _probe_writable(target: Path, role: str) -> None:
    """Create (and remove) a file where the output will go; the nearest existing folder if it is not made yet."""
    folder = target.parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{role} {target}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.~{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"{role} {target} cannot be written: {exc.strerror or exc} in {folder}") from None
    os.close(fd)
    os.unlink(probe)


def _check_one(role: str, output: Output, command: str, inputs: Mapping[str, object], overwrite: bool,
               accept: tuple[str, ...], overwrite_name: str) -> bool:
    """Check one output; True when it replaces an existing directory that only `overwrite` allowed."""
    target = Path(output.path)
    for in_role, value in inputs.items():
        if value is None or str(value) == STDIO:
            continue
        source = Path(os.fspath(value))
        if _same_file(target, source):
            raise OutputError(f"{role} {target} is also the input {in_role}; writing it would destroy the input: "
                              f"choose another {role}")
        if output.directory and source.exists() and _inside(source, target):
            raise OutputError(f"{role} {target} would be replaced as a whole, and it holds the input {in_role} "
                              f"({source}); choose another {role}")
    if output.directory:
        cwd = Path.cwd().resolve()
        if _inside(cwd, target):
            raise OutputError(f"{role} {target} is the current folder or one of its parents; it would be replaced "
                              f"as a whole: choose a new folder for {role}")
    forced = False
    if target.is_symlink() and not target.exists():
        raise OutputError(f"{role} {target} is a broken symbolic link; remove it or choose another {role}")
    if output.directory:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{role} {target} exists and is a file, not a folder; choose another {role}")
        if target.is_dir() and any(target.iterdir()):
            found = manifest_command(target)
            if found not in accept:
                what = (f"holds the output of `molpeft {found}`" if found else
                        "is not empty and holds no molpeft manifest")
                if not overwrite:
                    raise OutputError(f"{role} {target} {what}, not of `molpeft {command}`; it would be replaced: "
                                      f"choose another {role}, or pass {overwrite_name} (the old folder is "
                                      "moved aside and removed only once the new one is written)")
                forced = True
    elif target.is_dir():
        raise OutputError(f"{role} {target} is a folder; give a file name")
    _probe_writable(target, role)
    clean_stale_temporaries(target)
    return forced


def check_outputs(command: str, outputs: Mapping[str, Output | str | os.PathLike | None],
                  inputs: Mapping[str, object] | None = None, *, overwrite: bool = False,
                  accept: tuple[str, ...] | None = None, overwrite_name: str = "overwrite=True") -> list[str]:
    """Apply the output policy to each output of `command` before any work; return the roles whose existing
    directories are replaced only because `overwrite` was given (for a warning).

    outputs: role -> Output (a plain path means a file); None or '-' (stdout) entries are skipped.
    inputs: role -> path of each input (None, '-' and names that are not paths are fine).
    accept: manifest commands whose directories this command may replace (default: `command` itself).
    overwrite_name: how the message names the overwrite switch (the CLI: `--overwrite`).
    """
    inputs = {k: v for k, v in (inputs or {}).items() if isinstance(v, str | os.PathLike)}
    accept = accept or (command,)
    items = {}
    for role, value in outputs.items():
        if value is None:
            continue
        item = value if isinstance(value, Output) else Output(value)
        if str(item.path) == STDIO:
            if item.directory:
                raise OutputError(f"{role} must be a folder, not '-' (stdout)")
            continue
        items[role] = item
    roles = list(items)
    for i, role in enumerate(roles):
        for other in roles[i + 1:]:
            if _same_file(Path(items[role].path), Path(items[other].path)):
                raise OutputError(f"{role} and {other} name the same path {items[role].path}; give each its own")
    return [role for role, item in items.items() if _check_one(role, item, command, inputs, overwrite, accept,
                                                                         overwrite_name)]
