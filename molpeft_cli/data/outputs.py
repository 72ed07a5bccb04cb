"""The output policy, one place for every command: never clobber what is not ours.

Before a command does any work it calls `check_outputs`, which refuses
- an output that is one of the command's inputs (or, for a directory output, a folder that holds an input, the
  current folder, or one of its parents);
- an existing directory that is not an output of the same kind of `molpeft` command (recognised by the
  `manifest.json` inside it), unless `overwrite` is given -- and even then the old folder is only renamed aside,
  and removed once the new one is in place (see `atomic.atomic_dir`);
- a destination that cannot be written (probed by creating a file there, so read-only mounts are caught);
- what is at the path when it is not ours to replace: a device (`/dev/null` and `/dev/full` too), a FIFO or a
  socket (an atomic write would put a regular file in its place; `-o -` writes to stdout, so `-o - > /dev/null`
  discards an output); a broken symbolic link; a folder where a file is expected, and a file where a folder is;
- a symbolic link to a file: its manifest would be written beside the link while the file it points to changes,
  so the two would disagree; give the real path. A link to a folder (a directory output, whose manifest is
  inside) is followed: the folder it points to is replaced and the link stays (see `atomic.write_target`);
and it removes our own stale temporaries beside each output (left by a process that was killed).

Outputs and inputs are named by their settings (`output`, `split_table`); the errors are `SettingError`s, so the
library shows those names and the CLI the command's flags (`--output`, `SPLIT`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from molpeft_cli.data.atomic import SPECIAL_ADVICE, clean_stale_temporaries, special_kind
from molpeft_cli.errors import SettingError

STDIO = "-"
log = logging.getLogger(__name__)


class OutputError(SettingError):
    """An output that would destroy data or cannot be written. `{setting}` is the output's setting; other
    `{name}` placeholders name inputs."""


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
        raise OutputError(role, f"{{setting}} {target}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.~{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(role, f"{{setting}} {target} cannot be written: {exc.strerror or exc} in {folder}"
                          ) from None
    os.close(fd)
    os.unlink(probe)


def _check_kind(role: str, target: Path, directory: bool) -> None:
    """Refuse what is at `target` when it cannot be this output: see the module's docstring."""
    if target.is_symlink() and not target.exists():
        raise OutputError(role, f"{{setting}} {target} is a broken symbolic link (to {os.readlink(target)}); remove "
                          "it or choose another {setting}")
    kind = special_kind(target)
    if kind is not None:
        shown = f"{target} (a link to {_real(target)})" if target.is_symlink() else str(target)
        raise OutputError(role, f"{{setting}} {shown} is a {kind}, not a regular file; {SPECIAL_ADVICE}")
    if directory:
        if target.exists() and not target.is_dir():
            raise OutputError(role, f"{{setting}} {target} exists and is a file, not a folder; choose a folder "
                              "for {setting}")
    elif target.is_dir():
        raise OutputError(role, f"{{setting}} {target} is a folder, not a file; give a file name (a new one, or "
                          "a file molpeft wrote) for {setting}")
    elif target.is_symlink():
        raise OutputError(role, f"{{setting}} {target} is a symbolic link to {_real(target)}; its manifest would be "
                          "written beside the link, not beside the file it points to: give the file's own path "
                          f"({_real(target)}) as {{setting}}, or remove the link")


def _check_one(role: str, output: Output, command: str, inputs: Mapping[str, list[str]], overwrite: bool,
               accept: tuple[str, ...]) -> bool:
    """Check one output; True when it replaces an existing directory that only `overwrite` allowed."""
    target = Path(output.path)
    for in_role, values in inputs.items():
        for value in values:
            source = Path(value)
            if not source.exists():  # a name (bundled model, hub id) or a file still to come: nothing to lose
                continue
            if _same_file(target, source):
                raise OutputError(role, f"{{setting}} {target} is also the input {{{in_role}}}; writing it would "
                                  "destroy the input: choose another {setting}")
            if output.directory and _inside(source, target):
                raise OutputError(role, f"{{setting}} {target} would be replaced as a whole, and it holds the input "
                                  f"{{{in_role}}} ({source}); choose another {{setting}}")
    if output.directory:
        cwd = Path.cwd().resolve()
        if _inside(cwd, target):
            raise OutputError(role, f"{{setting}} {target} is the current folder or one of its parents; it would be "
                              "replaced as a whole: choose a new folder for {setting}")
    forced = False
    _check_kind(role, target, output.directory)
    if target.is_symlink():  # a link to a folder: the folder it points to is the output
        target = _real(target)
    if output.directory:
        if target.is_dir() and any(target.iterdir()):
            found = manifest_command(target)
            if found not in accept:
                what = (f"holds the output of `molpeft {found}`" if found else
                        "is not empty and holds no molpeft manifest")
                if not overwrite:
                    raise OutputError(role, f"{{setting}} {target} {what}, not of `molpeft {command}`; it would be "
                                      "replaced: choose another {setting}, or allow it with {overwrite} (the old "
                                      "folder is moved aside and removed only once the new one is written)")
                forced = True
    _probe_writable(target, role)
    clean_stale_temporaries(target)
    return forced


def check_outputs(command: str, outputs: Mapping[str, Output | str | os.PathLike | None],
                  inputs: Mapping[str, object] | None = None, *, overwrite: bool = False,
                  accept: tuple[str, ...] | None = None) -> list[str]:
    """Apply the output policy to each output of `command` before any work; return the roles whose existing
    directories are replaced only because `overwrite` was given (for a warning).

    outputs: role -> Output (a plain path means a file); None or '-' (stdout) entries are skipped.
    inputs: role -> path (or list of paths) of each input; None, '-' and names that are not paths are fine.
    accept: manifest commands whose directories this command may replace (default: `command` itself).
    """
    paths: dict[str, list[str]] = {}
    for role, value in (inputs or {}).items():
        values = value if isinstance(value, list | tuple) else [value]
        paths[role] = [os.fspath(v) for v in values if isinstance(v, str | os.PathLike) and str(v) != STDIO]
    accept = accept or (command,)
    items = {}
    for role, value in outputs.items():
        if value is None:
            continue
        item = value if isinstance(value, Output) else Output(value)
        if str(item.path) == STDIO:
            if item.directory:
                raise OutputError(role, "{setting} must be a folder, not '-' (stdout)")
            continue
        items[role] = item
    roles = list(items)
    for i, role in enumerate(roles):
        for other in roles[i + 1:]:
            if _same_file(Path(items[role].path), Path(items[other].path)):
                raise OutputError(role, f"{{setting}} and {{{other}}} name the same path {items[role].path}; give "
                                  "each its own")
    return [role for role, item in items.items() if _check_one(role, item, command, paths, overwrite, accept)]


def check_step_outputs(config: object, outputs: Mapping[str, bool], inputs: Sequence[str],
                       accept: tuple[str, ...] | None = None) -> None:
    """`check_outputs` for a step's config: `outputs` maps each output setting to whether it is a directory,
    `inputs` names the input settings (paths, lists of paths, or None). The step's command is `config.command`,
    and `config.overwrite` (where the config has it) allows replacing a directory that is not ours."""
    command = type(config).command  # type: ignore[attr-defined]
    targets = {name: Output(getattr(config, name), directory=is_dir)
               for name, is_dir in outputs.items() if getattr(config, name) is not None}
    sources = {name: getattr(config, name) for name in inputs}
    forced = check_outputs(command, targets, sources, overwrite=bool(getattr(config, "overwrite", False)),
                           accept=accept)
    for name in forced:
        log.warning(f"{targets[name].path} is not a `molpeft {command}` output; it is replaced as asked (the old "
                    "folder is removed once the new one is written)")
