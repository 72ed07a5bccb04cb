"""How the study names its cells and selections on disk: one module that writes the names (the plan) and reads
them back (the report), so the two cannot drift apart.

A cell is one fine-tuning run of the grid: `<variant>-<adapter>-<selection>-s<seed>` (e.g.
`two-stage-lora-mcdropout-s0`); a selection table is `<strategy>-s<seed>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAIN_VARIANT = "two-stage"  # stage-1 MLM, then supervised: the main grid
DIRECT_VARIANT = "direct"  # supervised straight from the pretrained model (full fine-tuning, selection none)

# adapter and selection names never contain '-' (the variant may)
_CELL = re.compile(r"^(?P<variant>.+)-(?P<adapter>[A-Za-z0-9_]+)-(?P<selection>[A-Za-z0-9_]+)-s(?P<seed>\d+)$")
_SELECTION = re.compile(r"^(?P<strategy>[A-Za-z0-9_]+)-s(?P<seed>\d+)$")


@dataclass(frozen=True)
class CellKey:
    variant: str
    adapter: str
    selection: str
    seed: int

    @property
    def name(self) -> str:
        return cell_name(self.variant, self.adapter, self.selection, self.seed)


def cell_name(variant: str, adapter: str, selection: str, seed: int) -> str:
    return f"{variant}-{adapter}-{selection}-s{seed}"


def parse_cell_name(stem: str) -> CellKey | None:
    """The cell a file stem names, or None."""
    match = _CELL.match(stem)
    if match is None:
        return None
    return CellKey(match["variant"], match["adapter"], match["selection"], int(match["seed"]))


def selection_name(strategy: str, seed: int) -> str:
    return f"{strategy}-s{seed}"


def parse_selection_name(stem: str) -> tuple[str, int] | None:
    """(strategy, seed) of a selection (or influence scores) file stem, or None."""
    match = _SELECTION.match(stem)
    return None if match is None else (match["strategy"], int(match["seed"]))
