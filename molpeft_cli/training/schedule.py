"""Learning-rate schedules: linear warmup then cosine or linear decay, as a pure function of the step (so a resumed
run gets exactly the rates of an uninterrupted one)."""

from __future__ import annotations

import math

from molpeft_cli.errors import MolpeftError, SettingError

SCHEDULES = ("cosine", "linear", "constant")


def warmup_steps_for(total_steps: int, warmup: float) -> int:
    """`warmup` < 1 is a fraction of the total steps, >= 1 a number of steps."""
    if warmup < 0:
        raise SettingError("warmup", "{setting} must be >= 0")
    steps = int(warmup) if warmup >= 1 else round(warmup * total_steps)
    return min(steps, total_steps)


def lr_factor(step: int, total_steps: int, warmup_steps: int, kind: str = "cosine", floor: float = 0.0) -> float:
    """Multiplier of the base learning rate for optimizer step `step` (0-based): rises linearly over the warmup
    steps, then decays to `floor` at `total_steps` (cosine or linear) or stays at 1 (constant)."""
    if kind not in SCHEDULES:
        raise MolpeftError(f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if kind == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if kind == "linear":
        decay = 1.0 - progress
    else:
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    return floor + (1.0 - floor) * decay


def build_scheduler(optimizer, total_steps: int, warmup_steps: int, kind: str = "cosine", floor: float = 0.0):
    """A torch LambdaLR applying `lr_factor`; its state_dict (last step) is saved with the trainer state."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup_steps, kind, floor)
    )
