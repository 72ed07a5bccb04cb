"""Monte Carlo dropout predictions: `passes` stochastic forward passes of a model with only its Dropout modules in
train mode. The numerical core of the `mcdropout` selection strategy (selection/mcdropout.py), kept free of the
table libraries so that it runs wherever torch does (bench/gpu_figures.py on a bare GPU machine; the `selection`
package imports neither polars nor torch when it loads)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from molpeft_cli.errors import MolpeftError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


@contextmanager
def dropout_only_train_mode(model: Any) -> Iterator[int]:
    """Everything in eval mode except Dropout modules; yields how many there are; restores all modes after."""
    from torch import nn

    dropout_types = (
        nn.Dropout,
        nn.Dropout1d,
        nn.Dropout2d,
        nn.Dropout3d,
        nn.AlphaDropout,
        nn.FeatureAlphaDropout,
    )
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    dropouts = [module for module in model.modules() if isinstance(module, dropout_types)]
    for module in dropouts:
        module.train()
    try:
        yield len(dropouts)
    finally:
        for module, training in modes:
            module.train(training)


def mc_dropout_predictions(
    model: Any,
    predict: Callable[[Any, Any], Any],
    batches: Iterable[Any],
    passes: int = 100,
    seed: int = 0,
    forward_rows: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) over `passes` dropout passes for every row of `batches`, in order.

    A batch is a tensor or a dict of them (the model's keyword inputs); `predict(model, batch)` returns one
    prediction per row. Up to forward_rows // rows passes run in one forward on the batch repeated pass-major
    (tensors repeated along dim 0; other dict values passed unchanged).
    The global torch RNG is seeded inside and restored afterwards.
    """
    mean, std = mc_dropout_summaries(model, predict, batches, _mean_and_std, passes, seed, forward_rows)
    return mean, std


def mc_dropout_summaries(
    model: Any,
    predict: Callable[[Any, Any], Any],
    batches: Iterable[Any],
    summarise: Callable[[Any], tuple],
    passes: int = 100,
    seed: int = 0,
    forward_rows: int = 512,
) -> tuple[np.ndarray, ...]:
    """The passes of `mc_dropout_predictions`, each batch's (passes, rows) float64 samples reduced by
    `summarise(samples) -> tuple of (rows,) tensors`; the summaries of every batch concatenated in row order."""
    import numpy as np
    import torch

    parts: list[tuple] = []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    devices = [device] if device.type == "cuda" else []
    with dropout_only_train_mode(model) as n_dropout, torch.no_grad(), torch.random.fork_rng(devices=devices):
        if n_dropout == 0:
            log.warning("the model has no Dropout modules: MC dropout spreads will all be zero")
        torch.manual_seed(seed)
        for batch in batches:
            rows = _rows(batch)
            stack = max(1, min(passes, forward_rows // max(rows, 1)))
            outputs = []
            for start in range(0, passes, stack):
                n = min(stack, passes - start)
                repeated = batch if n == 1 else _repeated(batch, n)
                outputs.append(torch.as_tensor(predict(model, repeated)).reshape(n, rows))
            samples = torch.cat(outputs).double().cpu()
            parts.append(tuple(part.numpy() for part in summarise(samples)))
    if not parts:
        raise MolpeftError("no pool batches to run MC dropout on")
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _mean_and_std(samples: Any) -> tuple:
    return samples.mean(0), samples.std(0)


def _tensors(batch: Any) -> list:
    """The tensors of a batch: the batch itself, or a dict's values in order (MC dropout's two batch shapes)."""
    import torch

    values = batch.values() if isinstance(batch, Mapping) else [batch]
    return [v for v in values if isinstance(v, torch.Tensor)]


def _rows(batch: Any) -> int:
    """Rows in a batch: the first dimension of its first tensor that has one."""
    for tensor in _tensors(batch):
        if tensor.dim() > 0:
            return int(tensor.shape[0])
    raise MolpeftError("a batch holds no tensor with a batch dimension")


def _repeated(batch: Any, n: int) -> Any:
    """The batch `n` times pass-major: every tensor repeated along dim 0, other dict values unchanged."""
    import torch

    def repeat(value: Any) -> Any:
        return value.repeat(n, *[1] * (value.dim() - 1)) if isinstance(value, torch.Tensor) else value

    return {key: repeat(value) for key, value in batch.items()} if isinstance(batch, Mapping) else repeat(batch)
