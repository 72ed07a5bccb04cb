"""BERT-style token masking for MLM: choose `prob` of the real tokens (never `<bos>`, `<eos>`, `<pad>` or other
special tokens), then replace 80% of the chosen by `<mask>`, 10% by a random ordinary token, and keep 10%."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from molpeft_cli.model.heads import IGNORE_INDEX


@dataclass(frozen=True)
class MaskingSpec:
    mask_id: int
    special_ids: tuple[int, ...]
    random_ids: tuple[int, ...]  # the tokens a chosen position may be replaced by (ordinary tokens only)
    prob: float = 0.15
    mask_frac: float = 0.8
    random_frac: float = 0.1

    @classmethod
    def for_tokenizer(cls, tokenizer, prob: float = 0.15, mask_frac: float = 0.8, random_frac: float = 0.1
                      ) -> MaskingSpec:
        special = tuple(sorted({int(i) for i in tokenizer.all_special_ids}))
        ordinary = tuple(sorted(i for i in tokenizer.vocab.values() if i not in special))
        return cls(int(tokenizer.mask_token_id), special, ordinary, prob, mask_frac, random_frac)


def mask_tokens(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, spec: MaskingSpec, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input_ids, labels): labels hold the original id at chosen positions and IGNORE_INDEX elsewhere."""
    maskable = attention_mask.bool() & ~torch.isin(input_ids, torch.tensor(spec.special_ids, dtype=input_ids.dtype))
    chosen = (torch.rand(input_ids.shape, generator=generator) < spec.prob) & maskable
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    roll = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (roll < spec.mask_frac)
    to_random = chosen & (roll >= spec.mask_frac) & (roll < spec.mask_frac + spec.random_frac)
    pool = torch.tensor(spec.random_ids, dtype=input_ids.dtype)
    random_tokens = pool[torch.randint(len(pool), input_ids.shape, generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = spec.mask_id
    masked[to_random] = random_tokens[to_random]
    return masked, labels


def step_generator(seed: int, step: int, stream: Iterable[int] = ()) -> torch.Generator:
    """A generator fixed by (seed, step): the masks of a step do not depend on what ran before it."""
    value = seed * 1_000_003 + step
    for extra in stream:
        value = value * 1_000_033 + extra
    return torch.Generator().manual_seed(value % (2**63))
