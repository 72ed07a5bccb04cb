"""Which parameters influence is computed over: `trainable`, `head`, `last-N` (last N layers + head), `all`.

`head` and `last-N` pick among the trainable parameters (those that fine-tuning moves; for a PEFT adapter
these are the adapter and head tensors), `all` takes every parameter. Names are matched after removing PEFT's
`base_model.model.` wrapper, so the same scope works on a plain and on an adapted model.
"""

from __future__ import annotations

import re

from torch import nn

from molpeft_cli.errors import MolpeftError, SettingError

DEFAULT_HEAD_PREFIXES: tuple[str, ...] = ("head.", "regressor.", "classifier.")
SCOPES_HELP = "trainable | head | last-N (last N encoder layers plus the head, e.g. last-2) | all"

_PEFT_PREFIX = "base_model.model."
_LAYER_INDEX = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
_LAST_N = re.compile(r"^last-(\d+)$")


def strip_peft_prefix(name: str) -> str:
    """`base_model.model.molformer.x` -> `molformer.x`; other names are returned unchanged."""
    return name[len(_PEFT_PREFIX) :] if name.startswith(_PEFT_PREFIX) else name


def is_head_parameter(name: str, head_prefixes: tuple[str, ...] = DEFAULT_HEAD_PREFIXES) -> bool:
    return strip_peft_prefix(name).startswith(head_prefixes)


def layer_index(name: str) -> int | None:
    """The encoder layer a parameter belongs to (`...layer.{i}....`), or None outside the layer stack."""
    match = _LAYER_INDEX.search(strip_peft_prefix(name))
    return int(match.group(1)) if match else None


def validate_scope(scope: str) -> str:
    if scope in ("trainable", "head", "all"):
        return scope
    match = _LAST_N.match(scope)
    if match and int(match.group(1)) >= 1:
        return scope
    raise MolpeftError(f"unknown parameter scope {scope!r}; use {SCOPES_HELP}")


def select_parameters(
    model: nn.Module, scope: str = "trainable", head_prefixes: tuple[str, ...] = DEFAULT_HEAD_PREFIXES
) -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs of `model` that a scope covers, in the model's parameter order."""
    scope = validate_scope(scope)
    named = list(model.named_parameters())
    if scope == "all":
        chosen = named
    else:
        trainable = [(name, p) for name, p in named if p.requires_grad]
        if scope == "trainable":
            chosen = trainable
        elif scope == "head":
            chosen = [(name, p) for name, p in trainable if is_head_parameter(name, head_prefixes)]
        else:
            chosen = _last_layers(trainable, int(scope.split("-")[1]), head_prefixes, named)
    if not chosen:
        raise MolpeftError(
            f"parameter scope {scope!r} matched no trainable parameters (head prefixes: "
            f"{', '.join(head_prefixes)}); load an adapter with is_trainable=True, or use scope 'all'"
        )
    return chosen


def _last_layers(
    trainable: list[tuple[str, nn.Parameter]],
    n_layers: int,
    head_prefixes: tuple[str, ...],
    named: list[tuple[str, nn.Parameter]],
) -> list[tuple[str, nn.Parameter]]:
    indices = {index for name, _ in named if (index := layer_index(name)) is not None}
    if not indices:
        raise MolpeftError("scope 'last-N' needs encoder layers named like '...layer.{i}....'; none found")
    if n_layers > len(indices):
        raise SettingError("params", f"{{setting}} last-{n_layers} asks for {n_layers} encoder layers, but the model "
                           f"has {len(indices)}; use last-1 to last-{len(indices)}, or all")
    keep = set(sorted(indices)[-n_layers:])
    return [
        (name, p)
        for name, p in trainable
        if is_head_parameter(name, head_prefixes) or layer_index(name) in keep
    ]
