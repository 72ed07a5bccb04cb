"""Monte Carlo dropout predictions: `passes` stochastic forward passes of a model with only its Dropout modules in
train mode. The numerical core of the `mcdropout` selection strategy (selection/mcdropout.py), kept free of the
table libraries so that it runs wherever torch does (bench/gpu_figures.py on a bare GPU machine)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from molpeft_cli.errors import MolpeftError

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

    `predict(model, batch)` returns one prediction per row. Up to forward_rows // rows passes run in one
    forward on the batch repeated pass-major (tensors repeated along dim 0; other values passed unchanged).
    The global torch RNG is seeded inside and restored afterwards.
    """
    import torch

    from molpeft_cli.influence.batches import batch_size, map_tensors

    means, stds = [], []
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    devices = [device] if device.type == "cuda" else []
    with dropout_only_train_mode(model) as n_dropout, torch.no_grad(), torch.random.fork_rng(devices=devices):
        if n_dropout == 0:
            log.warning("the model has no Dropout modules: MC dropout spreads will all be zero")
        torch.manual_seed(seed)
        for batch in batches:
            rows = batch_size(batch)
            stack = max(1, min(passes, forward_rows // max(rows, 1)))
            outputs = []
            for start in range(0, passes, stack):
                n = min(stack, passes - start)
                repeated = (
                    batch if n == 1 else map_tensors(lambda t, n=n: t.repeat(n, *[1] * (t.dim() - 1)), batch)
                )
                outputs.append(torch.as_tensor(predict(model, repeated)).reshape(n, rows))
            samples = torch.cat(outputs).double().cpu()
            means.append(samples.mean(0).numpy())
            stds.append(samples.std(0).numpy())
    if not means:
        raise MolpeftError("no pool batches to run MC dropout on")
    return np.concatenate(means), np.concatenate(stds)
