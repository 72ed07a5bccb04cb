"""BitFit (Ben Zaken et al. 2022): only bias terms and the regression head train; the checkpoint holds just those
tensors (`bitfit.safetensors`) and points at its base model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from molpeft_cli.adapters.base import HEAD_PREFIX, Adapter
from molpeft_cli.errors import MolpeftError


def is_bitfit_parameter(name: str) -> bool:
    return name.endswith(".bias") or name.startswith(HEAD_PREFIX)


class BitFit(Adapter):
    name = "bitfit"
    default_lr = 3e-3  # `molpeft tune` on Lipophilicity (results/tune-lipophilicity/bitfit); the original study: 1e-3
    default_classifier_dropout = 0.2
    weights_file = "bitfit.safetensors"

    def prepare(self, model: nn.Module, options: dict[str, Any]) -> nn.Module:
        for name, p in model.named_parameters():
            p.requires_grad_(is_bitfit_parameter(name))
        return model

    def save(self, model: nn.Module, directory: Path) -> list[str]:
        state = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(state, str(directory / self.weights_file), metadata={"format": "pt", "molpeft_method": self.name})
        return [self.weights_file]

    def restore(self, base: nn.Module, directory: Path) -> nn.Module:
        state = load_file(str(directory / self.weights_file))
        expected = {n for n, _ in base.named_parameters() if is_bitfit_parameter(n)}
        if set(state) != expected:
            extra, lacking = sorted(set(state) - expected), sorted(expected - set(state))
            raise MolpeftError(f"{directory}: BitFit tensors do not match the base model "
                               f"(unexpected {extra[:3]}, missing {lacking[:3]})")
        base.load_state_dict(state, strict=False)
        return self.prepare(base, {})
