"""LoRA and (IA)3 through the `peft` library on the native model. The regression head is new, so it trains too
(`modules_to_save`); checkpoints are peft's adapter files (adapter_config.json, adapter_model.safetensors).

LoRA (Hu et al. 2021): rank-r updates B A on query, key, value and the FFN intermediate dense, B = 0 at start.
(IA)3 (Liu et al. 2022): learned scaling vectors, initialised to ones, on the key and value outputs and on the FFN
intermediate activations (the paper's l_ff). peft scales a feed-forward module's *input*, so l_ff is placed on the
FFN's second projection (`layer.N.output.dense`), whose input is the intermediate activation gelu(W1 x): one vector
of size intermediate_size per layer. Targets are regexes because `attention.output.dense` must not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from molpeft_cli.adapters.base import Adapter
from molpeft_cli.errors import MolpeftError

HEAD_MODULE = "regressor"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class _PeftAdapter(Adapter):
    weights_file = "adapter_model.safetensors"

    def peft_config(self, options: dict[str, Any]):
        raise NotImplementedError

    def prepare(self, model: nn.Module, options: dict[str, Any]) -> nn.Module:
        import warnings

        from peft import get_peft_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft warns about custom (non-transformers-zoo) models
            return get_peft_model(model, self.peft_config(options))

    def save(self, model: nn.Module, directory: Path) -> list[str]:
        model.save_pretrained(str(directory))
        (directory / "README.md").unlink(missing_ok=True)  # peft's model-card template, empty for us
        return list(ADAPTER_FILES)

    def restore(self, base: nn.Module, directory: Path) -> nn.Module:
        import warnings

        from peft import PeftModel

        for name in ADAPTER_FILES:
            if not (directory / name).exists():
                raise MolpeftError(f"{directory} lacks {name}; is it a {self.name} checkpoint?")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # is_trainable: the adapter (and head) keep requires_grad, so influence can take its gradients
            return PeftModel.from_pretrained(base, str(directory), is_trainable=True)

    def base_model(self, model: nn.Module) -> nn.Module:
        return model.get_base_model() if hasattr(model, "get_base_model") else model


class LoRA(_PeftAdapter):
    name = "lora"
    # `molpeft tune` on Lipophilicity (results/tune-lipophilicity/lora); the original study: lr 1e-4, rank 8, alpha 16
    default_lr = 1e-3
    default_classifier_dropout = 0.5
    option_defaults = {"lora_rank": 16, "lora_alpha": 16.0}
    targets = ("query", "key", "value", "intermediate.dense")

    def peft_config(self, options: dict[str, Any]):
        from peft import LoraConfig

        missing = [k for k in ("lora_rank", "lora_alpha") if options.get(k) is None]
        if missing:
            raise MolpeftError(f"LoRA needs {' and '.join(missing)}: pass resolved options "
                               "(FinetuneOptions(...).resolved().to_dict())")
        return LoraConfig(
            r=int(options["lora_rank"]),
            lora_alpha=float(options["lora_alpha"]),
            lora_dropout=float(options.get("lora_dropout", 0.0)),
            target_modules=list(self.targets),
            modules_to_save=[HEAD_MODULE],
        )

    def options_summary(self, options: dict[str, Any]) -> dict[str, Any]:
        # finetune.json has always recorded `lora_targets` as null (no option ever set it); kept so that the
        # checkpoints of runs before and after this change compare equal (bench/same_results.py)
        return {**{k: options.get(k) for k in ("lora_rank", "lora_alpha", "lora_dropout")}, "lora_targets": None}


class IA3(_PeftAdapter):
    name = "ia3"
    default_lr = 3e-2  # `molpeft tune` on Lipophilicity (results/tune-lipophilicity/ia3); the original study: 1e-3
    default_classifier_dropout = 0.5
    targets = r".*\.(attention\.self\.(key|value)|layer\.\d+\.output\.dense)$"
    feedforward = r".*\.layer\.\d+\.output\.dense$"

    def peft_config(self, options: dict[str, Any]):
        from peft import IA3Config

        return IA3Config(
            target_modules=self.targets,
            feedforward_modules=self.feedforward,
            modules_to_save=[HEAD_MODULE],
            init_ia3_weights=True,
        )

    def options_summary(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"ia3_targets": "key, value, FFN intermediate activation (input of layer.N.output.dense)"}
