"""The fine-tuning recipe's optimizer pieces: AdamW parameter groups and the warmup-then-plateau learning rate.

Groups: weight decay applies to weight matrices only; biases, LayerNorm weights and (IA)3 scaling vectors are not
decayed (decaying a bias or a LayerNorm gain pulls it towards 0, which is no regulariser; decaying an (IA)3 vector,
initialised to ones, would switch its layer off).

Schedule: the rate rises linearly over the first `warmup_epochs` of steps, then stays at the base rate while the
validation MSE improves, and is multiplied by `plateau_factor` after every epoch that does not improve it. It is
deliberately not a decay to zero at --max-epochs: such a schedule freezes training near the last epoch, so the
validation MSE stops moving because the rate vanished, not because the model converged, and early stopping (our
"converged" test) would rarely fire. With a plateau decay, "converged" means what it says: `patience` epochs in a row
without a better validation MSE, at a rate that was still able to move the model.
"""

from __future__ import annotations

from torch import nn

NO_DECAY_MARKERS = ("ia3_l",)  # peft's (IA)3 scaling vectors


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups over the trainable parameters: [decayed weight matrices, undecayed biases/norms/scalings]."""
    norm_params = {id(p) for m in model.modules() if isinstance(m, nn.LayerNorm) for p in m.parameters()}
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in norm_params or name.endswith("bias") or p.ndim < 2 or any(m in name for m in NO_DECAY_MARKERS):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def warmup_steps(steps_per_epoch: int, warmup_epochs: float) -> int:
    return max(0, round(warmup_epochs * steps_per_epoch))


class PlateauSchedule:
    """Linear warmup over optimizer steps, then the base rate times `plateau_factor` ** (epochs without
    improvement so far). `step()` after each optimizer step; `epoch_end(improved)` after each validation."""

    def __init__(self, optimizer, warmup: int, plateau_factor: float) -> None:
        self.optimizer = optimizer
        self.base = [g["lr"] for g in optimizer.param_groups]
        self.warmup = warmup
        self.plateau_factor = plateau_factor
        self.steps = 0
        self.scale = 1.0
        self._apply()

    def factor(self) -> float:
        warm = (self.steps + 1) / (self.warmup + 1) if self.steps < self.warmup else 1.0
        return warm * self.scale

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * self.factor()

    def step(self) -> None:
        self.steps += 1
        self._apply()

    def epoch_end(self, improved: bool) -> None:
        if not improved:
            self.scale *= self.plateau_factor
            self._apply()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
