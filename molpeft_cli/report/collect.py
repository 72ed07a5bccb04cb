"""Read a `molpeft run` directory into one record: run settings, data tables, and the evaluated cells.

Anything but the evaluation results may be missing (a narrowed or partial run); what is missing or unreadable
is noted, not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT, CellKey, parse_cell_name, parse_selection_name  # noqa: F401
from molpeft_cli.choices import ADAPTERS, SELECTIONS
from molpeft_cli.data.tables import read_table
from molpeft_cli.errors import MolpeftError
from molpeft_cli.training.metrics import regression_metrics

ADAPTER_ORDER = ADAPTERS
SELECTION_ORDER = SELECTIONS
METRIC_COLUMNS = ("n", "mse", "rmse", "mae", "r2", "spearman", "trainable_params", "total_params", "train_seconds")


@dataclass
class RunData:
    run_dir: Path
    run_info: dict[str, Any]
    metrics: pl.DataFrame  # one row per evaluated cell and seed: variant, adapter, selection, seed + METRIC_COLUMNS
    predictions: dict[CellKey, pl.DataFrame]  # test rows: mol_id, label, prediction
    split: pl.DataFrame | None = None
    pool: pl.DataFrame | None = None
    split_compare: pl.DataFrame | None = None
    audit: dict[str, Any] | None = None
    selections: dict[tuple[str, int], pl.DataFrame] = field(default_factory=dict)
    influence_scores: dict[int, pl.DataFrame] = field(default_factory=dict)
    test_target_sources: list[str] = field(default_factory=list)  # where "target": "test" was found
    notes: list[str] = field(default_factory=list)  # files that were missing or unreadable
    # "device, torch version" -> number of fine-tuning runs, from the cells' manifests (where the cells were trained)
    training_environments: dict[str, int] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.metrics["seed"].to_list()))

    def adapters(self, variant: str = MAIN_VARIANT) -> list[str]:
        return ordered(self.metrics.filter(pl.col("variant") == variant)["adapter"].to_list(), ADAPTER_ORDER)

    def selection_names(self, variant: str = MAIN_VARIANT) -> list[str]:
        return ordered(self.metrics.filter(pl.col("variant") == variant)["selection"].to_list(), SELECTION_ORDER)

    def cell_predictions(self, variant: str, adapter: str, selection: str) -> dict[int, pl.DataFrame]:
        return {k.seed: df for k, df in self.predictions.items()
                if (k.variant, k.adapter, k.selection) == (variant, adapter, selection)}


def ordered(names, canonical: tuple[str, ...]) -> list[str]:
    """Distinct names, the known ones in their canonical order, then any others alphabetically."""
    names = set(names)
    return [n for n in canonical if n in names] + sorted(names - set(canonical))


def collect_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MolpeftError(f"run directory not found: {run_dir}")
    notes: list[str] = []
    metrics, predictions = _read_cells(run_dir, notes)
    data = RunData(run_dir=run_dir, run_info=_read_json(run_dir / "run.json", notes) or {}, metrics=metrics,
                   predictions=predictions, notes=notes)
    data.split = _read_optional(run_dir / "data" / "split.parquet", notes)
    data.pool = _read_optional(run_dir / "data" / "pool.parquet", notes)
    data.split_compare = _read_optional(run_dir / "data" / "split_compare.parquet", notes)
    data.audit = _read_json(run_dir / "data" / "audit.json", notes)
    data.selections = _read_seeded(run_dir / "selections", notes)
    data.influence_scores = {seed: df for (name, seed), df in _read_seeded(run_dir / "scores", notes).items()
                             if name == "influence"}
    data.test_target_sources = find_test_targets(run_dir)
    data.training_environments = training_environments(run_dir)
    return data


def training_environments(run_dir: Path) -> dict[str, int]:
    """How many fine-tuning runs were trained where: the `--device` of each cell's command line (`auto` when not
    given) and the torch build its manifest records, e.g. {"--device cuda, torch 2.11.0+cu130": 75}. A study put
    together from runs on different machines shows each kind."""
    found: dict[str, int] = {}
    for manifest in sorted((run_dir / "cells").glob("*/manifest.json")):
        try:
            record = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("command") != "finetune":
            continue
        argv = [str(a) for a in record.get("argv") or []]
        device = argv[argv.index("--device") + 1] if "--device" in argv[:-1] else "auto"
        torch = (record.get("versions") or {}).get("torch", "unknown")
        key = f"--device {device}, torch {torch}"
        found[key] = found.get(key, 0) + 1
    return found


def _read_cells(run_dir: Path, notes: list[str]) -> tuple[pl.DataFrame, dict[CellKey, pl.DataFrame]]:
    eval_dir = run_dir / "eval"
    stems: dict[str, dict[str, Path]] = {}
    for path in sorted(eval_dir.glob("*.parquet")) if eval_dir.is_dir() else []:
        for kind in ("metrics", "predictions"):
            if path.name.endswith(f".{kind}.parquet"):
                stems.setdefault(path.name[: -len(f".{kind}.parquet")], {})[kind] = path
    rows, predictions = [], {}
    for stem, files in stems.items():
        key = parse_cell_name(stem)
        if key is None:
            notes.append(f"eval/{stem}.*: name is not variant-adapter-selection-s<seed>; skipped")
            continue
        preds = _test_predictions(files["predictions"], notes) if "predictions" in files else None
        if preds is not None:
            predictions[key] = preds
        row = _metrics_row(files["metrics"], notes) if "metrics" in files else None
        if row is None and preds is not None:  # metrics lost: recompute them from the predictions
            row = regression_metrics(preds["label"].to_numpy(), preds["prediction"].to_numpy())
            notes.append(f"eval/{stem}: no readable metrics file; MSE recomputed from its predictions")
        if row is not None:
            rows.append({"variant": key.variant, "adapter": key.adapter, "selection": key.selection,
                         "seed": key.seed, **{c: row.get(c) for c in METRIC_COLUMNS},
                         "converged": _converged(files.get("metrics"), run_dir / "cells" / stem)})
    if not rows:
        raise MolpeftError(f"no evaluation results in {eval_dir}: expected files named "
                           "{variant}-{adapter}-{selection}-s{seed}.metrics.parquet (run `molpeft run` first)")
    schema = {"variant": pl.String, "adapter": pl.String, "selection": pl.String, "seed": pl.Int64,
              **{c: pl.Float64 for c in METRIC_COLUMNS}, "converged": pl.Boolean}
    metrics = pl.DataFrame(rows, schema=schema, strict=False).sort("variant", "adapter", "selection", "seed")
    return metrics, predictions


def _metrics_row(path: Path, notes: list[str]) -> dict[str, Any] | None:
    table = _read_optional(path, notes)
    if table is None or table.height == 0:
        return None
    if "split" in table.columns and (table["split"] == "test").any():
        table = table.filter(pl.col("split") == "test")
    row = table.row(0, named=True)
    return {c: _number(row.get(c)) for c in METRIC_COLUMNS}


def _converged(metrics_path: Path | None, checkpoint: Path) -> bool | None:
    """Whether the cell's training converged (early stopping fired): from its metrics row, else from the
    checkpoint's finetune.json; None when neither says (runs made before convergence was recorded)."""
    if metrics_path is not None:
        try:
            table = read_table(metrics_path)
        except MolpeftError:
            table = None
        if table is not None and "converged" in table.columns and table.height and table["converged"][0] is not None:
            return bool(table["converged"][0])
    try:
        value = json.loads((checkpoint / "finetune.json").read_text()).get("converged")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def _test_predictions(path: Path, notes: list[str]) -> pl.DataFrame | None:
    table = _read_optional(path, notes)
    if table is None:
        return None
    if not {"mol_id", "label", "prediction"} <= set(table.columns):
        notes.append(f"{_rel(path)}: lacks mol_id/label/prediction; ignored")
        return None
    if "split" in table.columns:
        table = table.filter(pl.col("split") == "test")
    table = table.select(pl.col("mol_id").cast(pl.String), pl.col("label").cast(pl.Float64),
                         pl.col("prediction").cast(pl.Float64))
    return table.filter(pl.col("label").is_not_null() & pl.col("prediction").is_finite())


def _read_seeded(folder: Path, notes: list[str]) -> dict[tuple[str, int], pl.DataFrame]:
    tables = {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        key = parse_selection_name(path.name[: -len(".parquet")])
        table = _read_optional(path, notes) if key else None
        if table is not None and "mol_id" in table.columns:
            tables[key] = table
    return tables


def _read_optional(path: Path, notes: list[str]) -> pl.DataFrame | None:
    if not path.exists():
        return None
    try:
        return read_table(path)
    except MolpeftError as exc:
        notes.append(f"{_rel(path)}: unreadable ({exc}); left out")
        return None


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        notes.append(f"{_rel(path)}: unreadable JSON ({exc}); left out")
        return None
    return value if isinstance(value, dict) else None


def find_test_targets(run_dir: Path) -> list[str]:
    """Every run.json/manifest entry whose key names a target and whose value is "test" (the rule says valid)."""
    found = []
    candidates = [run_dir / "run.json", *run_dir.rglob("manifest.json"), *run_dir.rglob("*.manifest.json")]
    for path in sorted(set(p for p in candidates if p.is_file())):
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found += [f"{path.relative_to(run_dir)}: {key}" for key in _test_target_keys(content, "")]
    return found


def _test_target_keys(value: Any, prefix: str) -> list[str]:
    if isinstance(value, dict):
        keys = []
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if str(key).lower().endswith("target") and item == "test":
                keys.append(name)
            keys += _test_target_keys(item, name)
        return keys
    if isinstance(value, list):
        return [k for i, item in enumerate(value) for k in _test_target_keys(item, f"{prefix}[{i}]")]
    return []


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _rel(path: Path) -> str:
    return "/".join(path.parts[-2:])
