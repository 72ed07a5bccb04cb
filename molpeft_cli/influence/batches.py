"""Batches as nested dicts/lists/tuples of tensors (whatever a model's forward takes): map, size, cycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from molpeft_cli.errors import MolpeftError

ModelInputs = Any  # a tensor, or a dict / list / tuple nesting tensors (and non-tensor values such as ids)


def map_tensors(fn: Callable[[torch.Tensor], Any], batch: ModelInputs) -> ModelInputs:
    """Apply `fn` to every tensor in a nested batch; other values are kept as they are."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {key: map_tensors(fn, value) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        mapped = [map_tensors(fn, value) for value in batch]
        return type(batch)(*mapped) if hasattr(batch, "_fields") else type(batch)(mapped)
    return batch


def vmap_in_dims(batch: ModelInputs) -> Any:
    """The `in_dims` tree for torch.func.vmap: tensors are batched along dim 0, everything else is not."""
    if isinstance(batch, torch.Tensor):
        return 0
    if isinstance(batch, dict):
        return {key: vmap_in_dims(value) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        dims = [vmap_in_dims(value) for value in batch]
        return type(batch)(*dims) if hasattr(batch, "_fields") else type(batch)(dims)
    return None


def batch_size(batch: ModelInputs) -> int:
    """Rows in a batch: the first dimension of its first tensor."""
    found: list[int] = []

    def visit(tensor: torch.Tensor) -> torch.Tensor:
        if not found and tensor.dim() > 0:
            found.append(int(tensor.shape[0]))
        return tensor

    map_tensors(visit, batch)
    if not found:
        raise MolpeftError("a batch holds no tensor with a batch dimension")
    return found[0]


def index_rows(batch: ModelInputs, index: int) -> ModelInputs:
    """One row of a batch, kept as a batch of one (tensors sliced as [index:index+1])."""
    return map_tensors(lambda t: t[index : index + 1] if t.dim() > 0 else t, batch)


def cycle_batches(batches: Iterable[ModelInputs], what: str = "training") -> Iterator[ModelInputs]:
    """Draw batches forever, starting a new pass when one ends (a shuffling DataLoader reshuffles)."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise MolpeftError(
                f"no {what} batches to draw from; pass a re-iterable (a list or a DataLoader), "
                "not a used-up generator"
            )
