"""Import DeepChem without its start-up noise (warnings and prints about optional backends) reaching the user."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings


@contextlib.contextmanager
def _silenced_fds():
    """Redirect the process's stdout/stderr file descriptors to /dev/null (catches C-level prints too)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def import_deepchem():
    """Return the deepchem module, imported quietly once."""
    if "deepchem" in sys.modules:
        return sys.modules["deepchem"]
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    with warnings.catch_warnings(), _silenced_fds(), contextlib.redirect_stdout(_Null()), \
            contextlib.redirect_stderr(_Null()):
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.CRITICAL)
        try:
            import deepchem
        finally:
            logging.disable(previous)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("deepchem"):
            logging.getLogger(name).setLevel(logging.ERROR)
    return deepchem


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass
