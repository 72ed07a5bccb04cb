"""Fine-tuning options: one typed dataclass whose field names are the CLI flags and the TOML `--config` keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from molpeft_cli.choices import ADAPTERS, FEATURE_SETS
from molpeft_cli.errors import SettingError

PEFT_METHODS = ADAPTERS


@dataclass
class FinetuneOptions:
    peft: str = field(default="full", metadata={"help": "full | bitfit | lora | ia3"})
    lr: float | None = field(default=None, metadata={"help": "AdamW learning rate (default: the adapter "
                                                            "registry's, from `molpeft tune`)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=64, metadata={"help": "molecules per batch"})
    max_epochs: int = field(default=20, metadata={"help": "upper bound on epochs"})
    patience: int = field(default=3, metadata={"help": "epochs without a better valid MSE before stopping"})
    warmup_epochs: float = field(default=0.5, metadata={"help": "linear learning-rate warmup, in epochs of steps"})
    plateau_factor: float = field(default=0.5, metadata={"help": "learning-rate multiplier after each epoch "
                                                                "without a better valid MSE (1 = constant)"})
    classifier_dropout: float | None = field(default=None, metadata={"help": "head dropout (default 0.5; "
                                                                              "0.2 for BitFit)"})
    embedding_dropout: float = field(default=0.2, metadata={"help": "embedding dropout"})
    hidden_dropout: float = field(default=0.2, metadata={"help": "hidden dropout"})
    lora_rank: int | None = field(default=None, metadata={"help": "LoRA rank r (default from the adapter registry)"})
    lora_alpha: float | None = field(default=None, metadata={"help": "LoRA alpha (default from the adapter "
                                                                     "registry)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "dropout on the LoRA path"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient-norm clip (0 = off)"})
    truncate: bool = field(default=True, metadata={"help": "cut molecules longer than the model's positions "
                                                           "to fit (listed on stderr and in finetune.json); "
                                                           "off: fail on them instead",
                                                   "flags": ("--truncate/--no-truncate",)})
    features: list[str] = field(default_factory=list, metadata={
        "help": "extra molecule features beside the embedding in the head, comma-separated: rdkit2d (RDKit's 2D "
                "descriptors), morgan-count (Morgan counts, radius 2, 2048); standardised on the training split, "
                "stored with the checkpoint, recomputed at prediction (default: none)", "comma": True})
    bf16: bool = field(default=False, metadata={"help": "train under bfloat16 autocast (CPU: several times faster; "
                                                        "validation and predictions stay float32)",
                                                "flags": ("--bf16/--fp32",)})

    def __post_init__(self) -> None:
        if self.peft not in PEFT_METHODS:
            raise SettingError("peft", f"unknown {{setting}} {self.peft!r}; choose one of {', '.join(PEFT_METHODS)}")
        for name in ("batch_size", "max_epochs", "lora_rank"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SettingError(name, "{setting} must be at least 1")
        if self.patience < 0:
            raise SettingError("patience", "{setting} must be non-negative")
        if self.lr is not None and not self.lr > 0:
            raise SettingError("lr", "{setting} must be positive")
        if self.lora_alpha is not None and not self.lora_alpha > 0:
            raise SettingError("lora_alpha", "{setting} must be positive")
        if not self.warmup_epochs >= 0:
            raise SettingError("warmup_epochs", "{setting} must be non-negative")
        if not 0.0 < self.plateau_factor <= 1.0:
            raise SettingError("plateau_factor", f"{{setting}} must be in (0, 1], got {self.plateau_factor}")
        unknown = [k for k in self.features if k not in FEATURE_SETS]
        if unknown:
            raise SettingError("features", f"unknown {{setting}} {', '.join(map(repr, unknown))}; choose from "
                               f"{', '.join(FEATURE_SETS)}")
        if len(set(self.features)) != len(self.features):
            raise SettingError("features", "{setting} names a set twice")
        for name in ("classifier_dropout", "embedding_dropout", "hidden_dropout", "lora_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise SettingError(name, f"{{setting}} must be in [0, 1), got {value}")

    def resolved(self) -> FinetuneOptions:
        """Fill the unset defaults from the adapter registry, the one place they are declared: the chosen method's
        learning rate and head dropout, and every method's own options (LoRA rank/alpha), which are recorded
        whatever the method."""
        from molpeft_cli.adapters import REGISTRY

        adapter = REGISTRY[self.peft]
        values = asdict(self)
        if values["lr"] is None:
            values["lr"] = adapter.default_lr
        if values["classifier_dropout"] is None:
            values["classifier_dropout"] = adapter.default_classifier_dropout
        for method in REGISTRY.values():
            for name, default in method.option_defaults.items():
                if values[name] is None:
                    values[name] = default
        return FinetuneOptions(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

