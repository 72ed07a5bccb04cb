"""Errors a user can cause. The library names settings (`lr`, `batch_size`); the CLI shows them as flags."""

from __future__ import annotations

import re
from collections.abc import Callable

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class MolpeftError(Exception):
    """A problem with the user's input or environment, reported as one clear line (no traceback)."""

    exit_code = 2

    def render(self, flag_of: Callable[[str], str] | None = None) -> str:
        return str(self)


class SettingError(MolpeftError, ValueError):
    """A setting has a bad value. The message names settings through placeholders: `{setting}` for this one,
    `{other_name}` for others it mentions. The library shows their names (`lr must be positive`), the CLI their
    flags (`--lr must be positive`)."""

    def __init__(self, setting: str, message: str):
        self.setting = setting
        self.template = message if "{setting}" in message else "{setting}: " + message
        super().__init__(self.render())

    def __reduce__(self):  # rebuilt from the setting and template, so it crosses to a parent process
        return type(self), (self.setting, self.template)

    def render(self, flag_of: Callable[[str], str] | None = None) -> str:
        def name(match: re.Match) -> str:
            setting = self.setting if match.group(1) == "setting" else match.group(1)
            return flag_of(setting) if flag_of else setting

        return _PLACEHOLDER.sub(name, self.template)


class InputError(MolpeftError):
    """An input file or table is missing, unreadable, or lacks what the step needs."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `kill`, `timeout` and batch schedulers send), raised where the process is, as Ctrl-C raises
    KeyboardInterrupt: a KeyboardInterrupt, so every cleanup that handles Ctrl-C handles it too (atomic writes
    remove their temporaries, a run records the interrupted invocation). The CLI exits with 143 (128 + 15)."""

    exit_code = 143
