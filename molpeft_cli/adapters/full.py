"""Full fine-tuning: every parameter trains; the checkpoint holds all weights (`model.safetensors`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from molpeft_cli.adapters.base import Adapter
from molpeft_cli.errors import MolpeftError


class FullFineTuning(Adapter):
    name = "full"
    default_lr = 3e-4  # `molpeft tune` on Lipophilicity (results/tune-lipophilicity/full); the original study: 1e-4
    default_classifier_dropout = 0.5
    weights_file = "model.safetensors"

    def prepare(self, model: nn.Module, options: dict[str, Any]) -> nn.Module:
        for p in model.parameters():
            p.requires_grad_(True)
        return model

    def save(self, model: nn.Module, directory: Path) -> list[str]:
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(directory / self.weights_file), metadata={"format": "pt", "molpeft_method": self.name})
        return [self.weights_file]

    def restore(self, base: nn.Module, directory: Path) -> nn.Module:
        state = load_file(str(directory / self.weights_file))
        missing, unexpected = base.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise MolpeftError(f"{directory}: full checkpoint does not match the model "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        return base
