"""The one AdamW builder (parameter groups) for every training loop, and fine-tuning's warmup-then-plateau rate.

Groups: weight decay applies to weight matrices only; biases, LayerNorm weights and 1-D vectors such as (IA)3
scalings are not decayed (decaying a bias or a LayerNorm gain pulls it towards 0, which is no regulariser; decaying
an (IA)3 vector, initialised to ones, would switch its layer off).

Schedule: the rate rises linearly over the first `warmup_epochs` of steps, then stays at the base rate while the
validation MSE improves, and is multiplied by `plateau_factor` after every epoch that does not improve it. It is
deliberately not a decay to zero at the last epoch: such a schedule freezes training near the end, so the
validation MSE stops moving because the rate vanished, not because the model converged, and early stopping (our
"converged" test) would rarely fire. With a plateau decay, "converged" means what it says: `patience` epochs in a row
without a better validation MSE, at a rate that was still able to move the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from molpeft_cli.training.options import FinetuneOptions

NO_DECAY_MARKERS = ("ia3_l",)  # peft's (IA)3 scaling vectors


def parameter_groups(modules: nn.Module | Sequence[nn.Module], weight_decay: float) -> list[dict]:
    """AdamW groups over the trainable parameters of `modules` (each tensor once, in module order):
    [decayed weight matrices, undecayed biases/norms/1-D vectors], empty groups left out."""
    modules = [modules] if isinstance(modules, nn.Module) else list(modules)
    norm_params = {id(p) for module in modules for m in module.modules() if isinstance(m, nn.LayerNorm)
                   for p in m.parameters()}
    decay, no_decay, seen = [], [], set()
    for module in modules:
        for name, p in module.named_parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            if id(p) in norm_params or name.endswith("bias") or p.ndim < 2 or any(m in name for m in NO_DECAY_MARKERS):
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_adamw(modules: nn.Module | Sequence[nn.Module], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """The package's AdamW: `parameter_groups` of `modules`' trainable tensors at rate `lr`."""
    return torch.optim.AdamW(parameter_groups(modules, weight_decay), lr=lr)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, schedule, parameters,
                   grad_clip: float) -> None:
    """One fine-tuning step after the forward pass: backward, clip the gradient norm (`grad_clip` > 0), the
    optimizer's step, the rate schedule's step. Fine-tuning and the influence check's retraining share it."""
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
    schedule.step()


def finetune_optimizer(model: nn.Module, recipe: FinetuneOptions,
                       steps_per_epoch: int) -> tuple[torch.optim.AdamW, PlateauSchedule]:
    """Fine-tuning's optimizer and rate for `recipe` (its lr, weight decay, warmup epochs and plateau factor)."""
    optimizer = build_adamw(model, recipe.lr, recipe.weight_decay)
    schedule = PlateauSchedule(optimizer, warmup_steps(steps_per_epoch, recipe.warmup_epochs), recipe.plateau_factor)
    return optimizer, schedule


def warmup_steps(steps_per_epoch: int, warmup_epochs: float) -> int:
    """Optimizer steps of the linear warmup: `warmup_epochs` epochs of `steps_per_epoch`, rounded."""
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
