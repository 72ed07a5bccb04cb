"""Named MoLFormer sizes: `xl` (the published checkpoint), `small` (the next step up from the bundle, for GPU
pretraining), `mini` (CPU pretraining and fine-tuning; the bundled model's size), `tiny` (tests).

The rest of the code asks `named_config(name)`; a new size is one new entry in `NAMED_SIZES`.
"""

from __future__ import annotations

from typing import Any

from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.config import MolformerConfig

NAMED_SIZES: dict[str, dict[str, Any]] = {
    # MoLFormer-XL-both-10pct's published layout, so that its checkpoint loads. Parameter counts and compute per
    # token of every size: bench/results/model_sizes.md.
    "xl": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=768,
        num_random_features=32,
    ),
    # Twice mini's depth at 4/3 its width (head size 64): the next step up from the bundle that still fits the
    # bundle's size limit as float16 with the bundled vocabulary.
    "small": dict(
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        intermediate_size=1024,
        num_random_features=32,
    ),
    # Same head size (64) as XL at a small fraction of its compute per token, so that pretraining and
    # fine-tuning fit a CPU.
    "mini": dict(
        hidden_size=384,
        num_hidden_layers=4,
        num_attention_heads=6,
        intermediate_size=768,
        num_random_features=32,
    ),
    # For tests: every layer kind of the architecture at the smallest width.
    "tiny": dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        num_random_features=16,
    ),
}


def named_config(name: str, vocab_size: int | None = None, **overrides: Any) -> MolformerConfig:
    """The config of a named size; `vocab_size` defaults to XL's 2362; other fields by keyword."""
    try:
        size = NAMED_SIZES[name]
    except KeyError:
        raise MolpeftError(f"unknown model size {name!r}; choose one of {', '.join(NAMED_SIZES)}") from None
    fields = dict(size)
    if vocab_size is not None:
        fields["vocab_size"] = vocab_size
    fields.update(overrides)
    return MolformerConfig(**fields)
