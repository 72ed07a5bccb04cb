"""Which cells of the planned grid (run.json's adapters x selections x seeds) have no evaluation result."""

from __future__ import annotations

from typing import Any

from molpeft_cli.report.collect import (
    ADAPTER_ORDER,
    DIRECT_VARIANT,
    MAIN_VARIANT,
    SELECTION_ORDER,
    CellKey,
    RunData,
    ordered,
)


def planned(run_info: dict[str, Any], key: str, observed: list) -> list:
    """run.json's list for `key` when it has one, else what was observed."""
    value = run_info.get(key)
    if isinstance(value, list | tuple) and value and all(isinstance(v, str | int) for v in value):
        return list(value)
    return list(observed)


def missing_cells(data: RunData) -> list[str]:
    """One line per planned (variant, adapter, selection) with seeds lacking a result."""
    seeds = sorted({int(s) for s in planned(data.run_info, "seeds", data.seeds)})
    adapters = ordered(planned(data.run_info, "adapters", data.adapters()), ADAPTER_ORDER)
    selections = ordered(planned(data.run_info, "selections", data.selection_names()), SELECTION_ORDER)
    grid = [(data.main_variant, a, s) for a in adapters for s in selections]
    if data.main_variant == MAIN_VARIANT and "full" in adapters and "none" in selections and expects_direct(data):
        grid.append((DIRECT_VARIANT, "full", "none"))
    present = set(data.metrics.select("variant", "adapter", "selection", "seed").iter_rows())
    lines = []
    for variant, adapter, selection in grid:
        lacking = [s for s in seeds if (variant, adapter, selection, s) not in present]
        if lacking:
            which = "all seeds" if len(lacking) == len(seeds) else "seed " + ", ".join(map(str, lacking))
            lines.append(f"{variant} {adapter} / {selection}: {which}")
    return lines


def expects_direct(data: RunData) -> bool:
    """`run` trains the direct comparison (full, none) from a pretrained model; a model from scratch has none."""
    if (data.metrics["variant"] == DIRECT_VARIANT).any():
        return True
    model = str(data.run_info.get("model") or "")
    return bool(model) and "scratch" not in model


def cells_without_predictions(data: RunData) -> list[str]:
    """Cells with metrics but no test predictions: they get no confidence interval or parity plot."""
    cells = data.metrics.select("variant", "adapter", "selection", "seed").iter_rows()
    return [f"{v} {a} / {s} seed {seed}" for v, a, s, seed in cells if CellKey(v, a, s, seed) not in data.predictions]
