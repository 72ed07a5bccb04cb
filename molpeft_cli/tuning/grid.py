"""The search space of `molpeft tune`: per method, a handful of values for each tuned option, crossed as a grid.

Learning rates are spaced about 3x apart from one step below the original study's value (1e-4 full/LoRA, 1e-3
BitFit/(IA)3) to one to three steps above it; LoRA also crosses rank 8, 16 with alpha/rank in {1, 2} (alpha = rank,
and the original study's alpha = 2 rank). Where a winner sits on the grid's edge (full, LoRA and (IA)3 did, see
results/tune-lipophilicity/), pass --lr with a wider range.
A grid rather than a sampler: with a handful of values each, a grid is cheap, every value is seen, and the result
table can say by how much each value lost.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from molpeft_cli.errors import SettingError

DEFAULT_GRIDS: dict[str, dict[str, tuple]] = {
    "full": {"lr": (3e-5, 1e-4, 3e-4)},
    "bitfit": {"lr": (3e-4, 1e-3, 3e-3, 1e-2)},
    "lora": {"lr": (1e-4, 3e-4, 1e-3), "lora_rank": (8, 16), "lora_alpha_ratio": (1.0, 2.0)},
    "ia3": {"lr": (1e-3, 3e-3, 1e-2, 3e-2)},
}


@dataclass(frozen=True)
class Grid:
    """The configurations to try: each a dict of option overrides (`lr`, and for LoRA `lora_rank`, `lora_alpha`)."""

    method: str
    configs: tuple[tuple[tuple[str, Any], ...], ...]

    def __len__(self) -> int:
        return len(self.configs)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.configs]

    def varied(self) -> list[str]:
        """The options that take more than one value (the result table's columns)."""
        names = [k for k, _ in self.configs[0]] if self.configs else []
        return [n for n in names if len({dict(c)[n] for c in self.configs}) > 1] or names


def grid_for(method: str, lr: list[float] | None = None, lora_rank: list[int] | None = None,
             lora_alpha: list[float] | None = None) -> Grid:
    """The method's default grid, with any of its axes replaced by the given values."""
    if method not in DEFAULT_GRIDS:
        raise SettingError("peft", f"unknown {{setting}} {method!r}; choose one of {', '.join(DEFAULT_GRIDS)}")
    space = DEFAULT_GRIDS[method]
    if method != "lora" and (lora_rank or lora_alpha):
        raise SettingError("grid_lora_rank" if lora_rank else "grid_lora_alpha",
                           "{setting} applies to LoRA only (peft lora)")
    lrs = _positive(lr, "grid_lr") if lr else list(space["lr"])
    if method != "lora":
        return Grid(method, tuple((("lr", v),) for v in _unique(lrs)))
    ranks = [int(r) for r in _positive(lora_rank, "grid_lora_rank")] if lora_rank else list(space["lora_rank"])
    configs = []
    for value, rank in itertools.product(_unique(lrs), _unique(ranks)):
        alphas = (_positive(lora_alpha, "grid_lora_alpha") if lora_alpha
                  else [rank * r for r in space["lora_alpha_ratio"]])
        configs += [(("lr", value), ("lora_rank", rank), ("lora_alpha", float(a))) for a in _unique(alphas)]
    return Grid(method, tuple(configs))


def _positive(values: list, what: str) -> list:
    bad = [v for v in values if not v > 0]
    if bad:
        raise SettingError(what, f"{{setting}} values must be positive, got {bad}")
    return list(values)


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))
