"""molpeft: choose extra training data and a PEFT method for MoLFormer on a molecular property.

The Python API is `molpeft_cli.api` (one function per study step, typed configs in, results out); its names are
also available here (`molpeft_cli.finetune`, `molpeft_cli.FinetuneConfig`, ...), loaded on first use so that
importing this package stays cheap. `import molpeft_cli.model` registers the native MoLFormer classes with the
transformers Auto classes.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    import importlib

    api = importlib.import_module("molpeft_cli.api")  # not `from molpeft_cli import api`: that asks __getattr__
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'molpeft_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib

    api = importlib.import_module("molpeft_cli.api")
    return sorted([*globals(), *api.__all__])
