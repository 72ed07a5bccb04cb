"""How the study names its cells and selections on disk: one module that writes the names (the plan) and reads
them back (the report), so the two cannot drift apart.

A cell is one fine-tuning run of the grid: `<variant>-<adapter>-<selection>-s<seed>` (e.g.
`two-stage-lora-mcdropout-s0`); a selection table is `<strategy>-s<seed>`. A study over several budgets (`run
--budgets`) names the cells and selections of a budget other than the profile's own `k` with `-k<K>` before the
seed (`two-stage-lora-random-k50-s0`, `random-k50-s0`), so the profile's budget keeps its names (and its results).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAIN_VARIANT = "two-stage"  # stage-1 MLM, then supervised: the main grid
DIRECT_VARIANT = "direct"  # supervised straight from the pretrained model (full fine-tuning, selection none)

# adapter and selection names never contain '-' (the variant may)
_CELL = re.compile(r"^(?P<variant>.+)-(?P<adapter>[A-Za-z0-9_]+)-(?P<selection>(?!k\d+-)[A-Za-z0-9_]+)"
                   r"(?:-k(?P<budget>\d+))?-s(?P<seed>\d+)$")
_SELECTION = re.compile(r"^(?P<strategy>(?!k\d+-)[A-Za-z0-9_]+)(?:-k(?P<budget>\d+))?-s(?P<seed>\d+)$")


@dataclass(frozen=True)
class CellKey:
    variant: str
    adapter: str
    selection: str
    seed: int
    budget: int | None = None  # the number of pool molecules asked for, when not the profile's own k

    @property
    def name(self) -> str:
        return cell_name(self.variant, self.adapter, self.selection, self.seed, self.budget)


def _budget(budget: int | None) -> str:
    return "" if budget is None else f"-k{budget}"


def cell_name(variant: str, adapter: str, selection: str, seed: int, budget: int | None = None) -> str:
    return f"{variant}-{adapter}-{selection}{_budget(budget)}-s{seed}"


def parse_cell_name(stem: str) -> CellKey | None:
    """The cell a file stem names, or None."""
    match = _CELL.match(stem)
    if match is None:
        return None
    budget = int(match["budget"]) if match["budget"] else None
    return CellKey(match["variant"], match["adapter"], match["selection"], int(match["seed"]), budget)


def selection_name(strategy: str, seed: int, budget: int | None = None) -> str:
    return f"{strategy}{_budget(budget)}-s{seed}"


def parse_selection_name(stem: str) -> tuple[str, int] | None:
    """(strategy, seed) of a selection (or influence scores) file stem, or None (the budget: `parse_budget`)."""
    match = _SELECTION.match(stem)
    return None if match is None else (match["strategy"], int(match["seed"]))


def parse_budget(stem: str) -> int | None:
    """The budget a cell or selection file stem names (`-k<K>`), or None for the profile's own."""
    match = _CELL.match(stem) or _SELECTION.match(stem)
    return int(match["budget"]) if match and match["budget"] else None
