"""Fine-tuning methods behind one registry: `REGISTRY[name]` for full, bitfit, lora and ia3.

Each method prepares a regression model for training (what trains, what stays frozen), saves only what it
trained, and restores a trained checkpoint onto its base model. A new method is one new module.
"""

from molpeft_cli.adapters.base import Adapter
from molpeft_cli.adapters.bitfit import BitFit
from molpeft_cli.adapters.full import FullFineTuning
from molpeft_cli.adapters.peft_methods import IA3, LoRA

REGISTRY: dict[str, Adapter] = {a.name: a for a in (FullFineTuning(), BitFit(), LoRA(), IA3())}

__all__ = ["REGISTRY", "Adapter"]
