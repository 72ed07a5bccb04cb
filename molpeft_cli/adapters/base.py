"""The interface every fine-tuning method implements, and exact parameter counting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

HEAD_PREFIX = "regressor."


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def describe(self) -> str:
        return f"{self.trainable:,} trainable of {self.total:,} parameters ({100 * self.fraction:.3f}%)"


def count_parameters(model: nn.Module) -> ParameterCount:
    """Exact counts over unique parameter tensors (shared tensors counted once)."""
    seen: dict[int, torch.nn.Parameter] = {}
    for p in model.parameters():
        seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return ParameterCount(trainable, total)


class Adapter:
    """A fine-tuning method. Subclasses set `name`, `default_lr`, `default_classifier_dropout`, and in
    `option_defaults` the defaults of their own `FinetuneOptions` fields (`FinetuneOptions.resolved` fills them)."""

    name: str = ""
    default_lr: float = 1e-4
    default_classifier_dropout: float = 0.5
    option_defaults: ClassVar[dict[str, Any]] = {}
    weights_file: str = ""

    def prepare(self, model: nn.Module, options: dict[str, Any]) -> nn.Module:
        """Return the model to train, with exactly the method's parameters requiring gradients. `options` are
        resolved `FinetuneOptions` as a dict (`FinetuneOptions(...).resolved().to_dict()`), used as given."""
        raise NotImplementedError

    def save(self, model: nn.Module, directory: Path) -> list[str]:
        """Write the trained tensors into `directory`; return the file names written."""
        raise NotImplementedError

    def restore(self, base: nn.Module, directory: Path) -> nn.Module:
        """Put the trained tensors saved in `directory` onto a freshly loaded base model."""
        raise NotImplementedError

    def base_model(self, model: nn.Module) -> nn.Module:
        """The underlying MolformerForRegression (unwraps peft)."""
        return model

    def options_summary(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}
