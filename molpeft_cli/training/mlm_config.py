"""The settings of a masked-LM training run; field names are the `molpeft mlm` option names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from molpeft_cli.errors import SettingError
from molpeft_cli.schema import check_numbers
from molpeft_cli.training.schedule import SCHEDULES

# Settings that must be equal for `--resume` to continue a run exactly; the others (time budget, saving) may change.
RESUME_KEYS = (
    "mask_prob", "mask_token_frac", "random_token_frac", "lr", "weight_decay", "batch_size", "epochs", "max_steps",
    "eval_every", "patience", "holdout", "warmup", "schedule", "max_grad_norm", "descriptor_weight",
    "descriptor_hidden", "bf16", "seed",
)


@dataclass
class MLMConfig:
    mask_prob: float = field(default=0.15, metadata={"help": "Fraction of real tokens chosen for prediction."})
    mask_token_frac: float = field(default=0.8, metadata={"help": "Of the chosen, fraction replaced by <mask>."})
    random_token_frac: float = field(default=0.1, metadata={"help": "Of the chosen, fraction replaced at random."})
    lr: float = field(default=1e-4, metadata={"help": "AdamW peak learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases/norms)."})
    batch_size: int = field(default=64, metadata={"help": "Molecules per step."})
    epochs: int = field(default=10, metadata={"help": "Passes over the training SMILES at most."})
    max_steps: int | None = field(default=None, metadata={"help": "Optimizer steps at most (also sets the "
                                                                  "schedule's length)."})
    eval_every: int = field(default=0, metadata={"help": "Held-out evaluation every N steps (0: each epoch)."})
    save_every: int = field(default=500, metadata={"help": "Save resumable state every N steps."})
    patience: int = field(default=2, metadata={"help": "Stop after N evaluations without a better held-out loss "
                                                         "(0: never stop early)."})
    holdout: float = field(default=0.05, metadata={"help": "Held-out fraction (<1) or count (>=1) of the input."})
    warmup: float = field(default=0.05, metadata={"help": "Warmup fraction (<1) or steps (>=1)."})
    schedule: str = field(default="cosine", metadata={"help": "Decay after warmup: cosine, linear or constant."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0: off)."})
    max_minutes: float | None = field(default=None, metadata={"help": "Wall-clock budget; stop and save when used."})
    descriptor_weight: float = field(default=0.0, metadata={"help": "Weight of the RDKit-descriptor objective "
                                                                    "(0: off)."})
    descriptor_hidden: int = field(default=128, metadata={"help": "Hidden width of the descriptor head."})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 autocast on the training device (CPUs with "
                                                          "AVX512-BF16/AMX, and CUDA GPUs).",
                                                "flags": ("--bf16/--fp32",)})
    seed: int = field(default=0, metadata={"cli": False})  # the step's seed, resolved

    def __post_init__(self) -> None:
        checks = [
            (0 < self.mask_prob < 1, "mask_prob", "{setting} must be in (0, 1)"),
            (0 <= self.mask_token_frac and 0 <= self.random_token_frac
             and self.mask_token_frac + self.random_token_frac <= 1, "mask_token_frac",
             "{setting} and {random_token_frac} must be >= 0 and sum to at most 1"),
            (self.lr > 0, "lr", "{setting} must be > 0"),
            (self.batch_size >= 1, "batch_size", "{setting} must be >= 1"),
            (self.epochs >= 1, "epochs", "{setting} must be >= 1"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps", "{setting} must be >= 1"),
            (self.eval_every >= 0, "eval_every", "{setting} must be >= 0"),
            (self.save_every >= 1, "save_every", "{setting} must be >= 1"),
            (self.patience >= 0, "patience", "{setting} must be >= 0"),
            (self.holdout >= 0, "holdout", "{setting} must be >= 0"),
            (self.holdout < 1 or float(self.holdout).is_integer(), "holdout",
             f"{{setting}} is a fraction below 1 or a whole count of molecules, got {self.holdout!r}"),
            (self.warmup >= 0, "warmup", "{setting} must be >= 0"),
            (self.schedule in SCHEDULES, "schedule", f"{{setting}} must be one of {', '.join(SCHEDULES)}"),
            (self.max_grad_norm >= 0, "max_grad_norm", "{setting} must be >= 0"),
            (self.max_minutes is None or self.max_minutes > 0, "max_minutes", "{setting} must be > 0"),
            (self.descriptor_weight >= 0, "descriptor_weight", "{setting} must be >= 0"),
            (self.descriptor_hidden >= 1, "descriptor_hidden", "{setting} must be >= 1"),
        ]
        for ok, setting, message in checks:
            if not ok:
                raise SettingError(setting, message)
        # and every number finite (lr=inf passes `> 0`)
        check_numbers(self, {"seed": (0, True), "weight_decay": (0, True)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resume_differences(self, saved: dict[str, Any]) -> list[str]:
        """Settings that differ from a saved run's (those that would change its result)."""
        now = self.to_dict()
        return [f"{k}: {saved.get(k)!r} then, {now[k]!r} now" for k in RESUME_KEYS if saved.get(k) != now[k]]
