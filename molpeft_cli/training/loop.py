"""What the two training loops (stage-1 MLM, stage-2 regression) share besides the optimizer (`training/optim.py`):
early stopping on a held-out value (lower is better, or higher for a score such as ROC-AUC) and snapshots of the
best weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the module's weights (the best state so far)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@dataclass
class EarlyStopping:
    """Tracks the best held-out value (the lowest; the highest with `higher_is_better`) and how many evaluations
    since it improved.

    `patience` evaluations without improvement stop training. `zero_disables`: patience 0 never stops (the MLM
    loop); otherwise patience 0 stops after the first evaluation (the fine-tuning loop's rule).
    """

    patience: int
    zero_disables: bool = False
    best: float | None = None
    best_step: int | None = None
    bad: int = 0  # evaluations since the best
    higher_is_better: bool = False

    def update(self, value: float, step: int) -> bool:
        """Record an evaluation; True when it is the new best."""
        improved = self.best is None or (value > self.best if self.higher_is_better else value < self.best)
        if improved:
            self.best, self.best_step, self.bad = value, step, 0
        else:
            self.bad += 1
        return improved

    def should_stop(self) -> bool:
        if self.zero_disables and self.patience == 0:
            return False
        return self.bad >= self.patience
