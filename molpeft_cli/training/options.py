"""Fine-tuning options: one typed dataclass whose field names are the CLI flags and the TOML `--config` keys.

The task's own settings (`task`, `pos_weight`, `stop_metric`) are recorded (`to_dict`) for classification only, so
a regression run's records read as they did before the settings existed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from molpeft_cli.choices import ADAPTERS, FEATURE_SETS
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import check_numbers
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, STOPPING_METRICS, TASK_CHOICES

PEFT_METHODS = ADAPTERS
TASK_SETTINGS = ("task", "pos_weight", "stop_metric")  # recorded for classification only
STOP_METRIC_CHOICES = ("auto", *dict.fromkeys(m for metrics in STOPPING_METRICS.values() for m in metrics))


@dataclass
class FinetuneOptions:
    peft: str = field(default="full", metadata={"help": "full | bitfit | lora | ia3"})
    lr: float | None = field(default=None, metadata={"help": "AdamW learning rate (default: the adapter "
                                                            "registry's, from `molpeft tune`)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=64, metadata={"help": "molecules per batch"})
    max_epochs: int = field(default=20, metadata={"help": "upper bound on epochs"})
    patience: int = field(default=3, metadata={"help": "epochs without a better validation score (--stop-metric) "
                                                       "before stopping"})
    warmup_epochs: float = field(default=0.5, metadata={"help": "linear learning-rate warmup, in epochs of steps"})
    plateau_factor: float = field(default=0.5, metadata={"help": "learning-rate multiplier after each epoch "
                                                                "without a better validation score (1 = constant)"})
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
    task: str = field(default="auto", metadata={"help": "auto | regression | classification (auto: training "
                                                        "labels exactly 0 and 1 -> classification)"})
    pos_weight: str = field(default="1", metadata={"help": "classification: weight of the positive class in the "
                                                           "loss, a number or auto (negatives / positives of the "
                                                           "training molecules)"})
    stop_metric: str = field(default="auto", metadata={"help": "validation score early stopping watches: mse "
                                                               "(regression), log_loss (classification's default) "
                                                               "or roc_auc"})

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
        check_numbers(self, {"weight_decay": (0, True), "grad_clip": (0, True)})  # and every number finite
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
        if self.task not in TASK_CHOICES:
            raise SettingError("task", f"unknown {{setting}} {self.task!r}; choose one of {', '.join(TASK_CHOICES)}")
        if self.stop_metric not in STOP_METRIC_CHOICES:
            raise SettingError("stop_metric", f"unknown {{setting}} {self.stop_metric!r}; choose one of "
                               f"{', '.join(STOP_METRIC_CHOICES)}")
        if str(self.pos_weight) != "auto":
            try:
                weight = float(self.pos_weight)
            except (TypeError, ValueError):
                weight = float("nan")
            if not (weight > 0 and weight < float("inf")):
                raise SettingError("pos_weight", f"{{setting}} must be auto or a positive number, got "
                                   f"{self.pos_weight!r}")
        if self.task != "auto":
            self.for_task(self.task)

    def for_task(self, task: str) -> FinetuneOptions:
        """These options for `task` (regression or classification): `task` set, `stop_metric` auto resolved to
        the task's default; a setting of the other task is a SettingError."""
        from dataclasses import replace

        if task == REGRESSION and str(self.pos_weight) != "1":
            raise SettingError("pos_weight", "{setting} applies to classification only; this task is regression")
        allowed = STOPPING_METRICS[task]
        if self.stop_metric not in ("auto", *allowed):
            raise SettingError("stop_metric", f"{{setting}} {self.stop_metric} does not apply to {task}; choose "
                               f"{' or '.join(allowed)}")
        stop = allowed[0] if self.stop_metric == "auto" else self.stop_metric
        if (task, stop) == (self.task, self.stop_metric):
            return self
        return replace(self, task=task, stop_metric=stop)

    def pos_weight_for(self, labels) -> float | None:
        """The positive class's loss weight for these 0/1 training labels (auto = negatives / positives); None for
        regression."""
        if self.task != CLASSIFICATION:
            return None
        if str(self.pos_weight) != "auto":
            return float(self.pos_weight)
        positives = sum(1 for v in labels if v == 1.0)
        return (len(labels) - positives) / positives if positives else 1.0

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
        """The options as recorded: every field, the task's own (`TASK_SETTINGS`) only for classification."""
        values = asdict(self)
        if self.task != CLASSIFICATION:
            for name in TASK_SETTINGS:
                values.pop(name)
        return values

