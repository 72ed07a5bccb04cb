"""Read a `molpeft run` directory, a folder of hand-chained evaluations or a list of metrics tables into one
record: run settings, data tables, and the evaluated cells (found by `report.sources`).

Anything but the evaluation results may be missing (a narrowed or partial run, or evaluations chained by hand);
what is missing or unreadable is noted, not fatal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT, CellKey, parse_cell_name, parse_selection_name  # noqa: F401
from molpeft_cli.choices import ADAPTERS, SELECTIONS
from molpeft_cli.data.tables import read_table
from molpeft_cli.errors import MolpeftError
from molpeft_cli.report.sources import FILES_LAYOUT, RUN_LAYOUT, Cell, Sources, common_data, find_sources
from molpeft_cli.tasks import CLASSIFICATION, MAIN_METRIC, METRICS, REGRESSION
from molpeft_cli.training.metrics import regression_metrics

ADAPTER_ORDER = ADAPTERS
SELECTION_ORDER = SELECTIONS
BUDGETED_SELECTION = re.compile(r"^(?P<strategy>[A-Za-z0-9_]+)-k(?P<k>\d+)-s(?P<seed>\d+)$")
COMMON_COLUMNS = ("trainable_params", "total_params", "train_seconds")
METRIC_COLUMNS = (*METRICS[REGRESSION], *COMMON_COLUMNS)


def metric_columns(task: str) -> tuple[str, ...]:
    """The per-cell columns of the cells table: the task's metrics, then the parameter counts and time."""
    return (*METRICS[task], *COMMON_COLUMNS)


@dataclass
class RunData:
    run_dir: Path  # the directory given, or the common folder of the metrics tables given
    run_info: dict[str, Any]
    metrics: pl.DataFrame  # one row per evaluated cell and seed: variant, adapter, selection, seed + metric columns
    predictions: dict[CellKey, pl.DataFrame]  # test rows: mol_id, label, prediction (classification: probability)
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
    task: str = REGRESSION  # of every cell (a report does not mix tasks)
    layout: str = RUN_LAYOUT  # run (a `molpeft run` directory), directory (any folder of evaluations) or files
    split_path: Path | None = None  # the split table the baselines train on
    left_out: list[str] = field(default_factory=list)  # what a hand-chained layout lacks, and what goes with it
    routes: dict[str, int] = field(default_factory=dict)  # how the cells' routes were found -> number of cells
    # when a strategy ran at more than one budget: every cell's metrics row with budget and n_added (the matrix
    # keeps each strategy's largest budget), and the test predictions by (cell, budget); else None and {}
    budgets: pl.DataFrame | None = None
    budget_predictions: dict[tuple[CellKey, int], pl.DataFrame] = field(default_factory=dict)
    # (strategy, seed) -> the manifest of its selection table (selections/, or the tables the checkpoints name)
    selection_manifests: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        """The task's main metric: the matrix, the differences and the ratios are in it."""
        return MAIN_METRIC[self.task]

    @property
    def main_variant(self) -> str:
        """The route of the report's grid: two-stage when any cell took it, else direct (a folder of cells
        fine-tuned straight from a pretrained model)."""
        variants = set(self.metrics["variant"].to_list())
        return MAIN_VARIANT if MAIN_VARIANT in variants or not variants else DIRECT_VARIANT

    @property
    def seeds(self) -> list[int]:
        return sorted(set(self.metrics["seed"].to_list()))

    def adapters(self, variant: str | None = None) -> list[str]:
        variant = variant or self.main_variant
        return ordered(self.metrics.filter(pl.col("variant") == variant)["adapter"].to_list(), ADAPTER_ORDER)

    def selection_names(self, variant: str | None = None) -> list[str]:
        variant = variant or self.main_variant
        return ordered(self.metrics.filter(pl.col("variant") == variant)["selection"].to_list(), SELECTION_ORDER)

    def cell_predictions(self, variant: str, adapter: str, selection: str) -> dict[int, pl.DataFrame]:
        return {k.seed: df for k, df in self.predictions.items()
                if (k.variant, k.adapter, k.selection) == (variant, adapter, selection)}


def ordered(names, canonical: tuple[str, ...]) -> list[str]:
    """Distinct names, the known ones in their canonical order, then any others alphabetically."""
    names = set(names)
    return [n for n in canonical if n in names] + sorted(names - set(canonical))


def collect_run(source: str | Path | Sequence[str | Path]) -> RunData:
    """The report's inputs from one directory (a run directory or any folder of evaluations, searched
    recursively) or from metrics tables given one by one."""
    paths = [source] if isinstance(source, str | Path) else list(source)
    sources = find_sources(paths)
    run_dir = sources.root
    notes = list(sources.notes)
    task = _task_of(sources)
    metrics, predictions, budgets, budget_predictions = _read_cells(sources, task, notes)
    data = RunData(run_dir=run_dir, run_info=_read_json(run_dir / "run.json", notes) or {}, metrics=metrics,
                   predictions=predictions, notes=notes, task=task, layout=sources.layout, budgets=budgets,
                   budget_predictions=budget_predictions)
    data.routes = dict(sorted(_count(c.route_from for c in sources.cells).items()))
    data.split_path = _split_path(sources, notes)
    data.split = _read_optional(data.split_path, notes) if data.split_path is not None else None
    data.pool = _read_optional(run_dir / "data" / "pool.parquet", notes)
    data.split_compare = _read_optional(run_dir / "data" / "split_compare.parquet", notes)
    data.audit = _read_json(run_dir / "data" / "audit.json", notes)
    data.selections = _read_seeded(run_dir / "selections", notes)
    if not (run_dir / "selections").is_dir():
        data.selections = _selections_of_cells(sources.cells, notes)
    data.selection_manifests = selection_manifests(run_dir, sources.cells)
    data.influence_scores = {seed: df for (name, seed), df in _read_seeded(run_dir / "scores", notes).items()
                             if name == "influence"}
    data.test_target_sources = find_test_targets(run_dir)
    data.training_environments = training_environments(
        run_dir, [c.checkpoint for c in sources.cells] if sources.layout != RUN_LAYOUT else ())
    if sources.layout != RUN_LAYOUT:
        data.left_out = left_out(data, sources)
    return data


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _task_of(sources: Sources) -> str:
    tasks = _count(c.task for c in sources.cells)
    if len(tasks) > 1:
        shown = " and ".join(f"{n} {task}" for task, n in sorted(tasks.items()))
        raise MolpeftError(f"these evaluations mix tasks ({shown} cells); report each task's cells separately")
    return next(iter(tasks), REGRESSION)


def _split_path(sources: Sources, notes: list[str]) -> Path | None:
    """data/split.parquet of a run directory; else the molecule table the evaluations scored (eval's data input)."""
    standard = sources.root / "data" / "split.parquet"
    if standard.exists() or sources.layout == RUN_LAYOUT:
        return standard if standard.exists() else None
    path, distinct = common_data(sources.cells)
    if distinct > 1:
        notes.append(f"the cells were evaluated on {distinct} different molecule tables; the baselines use the "
                     f"most common, {path}")
    return path


def left_out(data: RunData, sources: Sources) -> list[str]:
    """What a folder of hand-chained evaluations (or metrics tables given alone) lacks of a run directory, and
    what the report leaves out for it."""
    lacking = []
    if not data.run_info:
        lacking.append("run.json (the run's settings and planned grid): the settings come from the evaluation "
                       "files, and missing cells are those of the grid the cells themselves span")
    if data.split_path is None:
        lacking.append("the split table (data/split.parquet, or the table `eval` scored, recorded in its "
                       "manifest): no random-forest or chemprop baseline")
    if data.pool is None:
        lacking.append("data/pool.parquet: the pool is not described")
    if not data.selections:
        lacking.append("selection tables (selections/, or the checkpoints' --extra tables): no selection overlap")
    if not data.influence_scores:
        lacking.append("scores/influence-s<seed>.parquet: no influence-score section")
    if data.audit is None:
        lacking.append("data/audit.json: no leakage audit")
    if data.split_compare is None:
        lacking.append("data/split_compare.parquet: no comparison of split strategies")
    if sources.layout == FILES_LAYOUT:
        lacking.append(f"the baseline cache lives in {data.run_dir / 'baseline'} (the tables' common folder)")
    return lacking


def training_environments(run_dir: Path, checkpoints: Sequence[Path | None] = ()) -> dict[str, int]:
    """How many fine-tuning runs were trained where: the `--device` of each cell's command line (`auto` when not
    given) and the torch build its manifest records, e.g. {"--device cuda, torch 2.11.0+cu130": 75}. A study put
    together from runs on different machines shows each kind. The run's cells/ and the checkpoints evaluated."""
    found: dict[str, int] = {}
    manifests = sorted((run_dir / "cells").glob("*/manifest.json"))
    known = {m.resolve() for m in manifests}
    for checkpoint in checkpoints:
        manifest = checkpoint / "manifest.json" if checkpoint is not None else None
        if manifest is not None and manifest.is_file() and manifest.resolve() not in known:
            manifests.append(manifest)
            known.add(manifest.resolve())
    for manifest in manifests:
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


def _read_cells(sources: Sources, task: str, notes: list[str]
                ) -> tuple[pl.DataFrame, dict[CellKey, pl.DataFrame], pl.DataFrame | None, dict]:
    """The matrix's metrics rows and test predictions (each cell at its largest budget), and, when some strategy
    was run at more than one budget, every cell's row with its budget and the predictions by (key, budget)."""
    columns = metric_columns(task)
    read = [(cell, *_read_cell(cell, task, notes, columns)) for cell in sources.cells]
    if not any(row is not None for _, row, _ in read):
        where = sources.root if sources.layout != FILES_LAYOUT else "the tables given"
        raise MolpeftError(f"no evaluation results in {where}: expected metrics tables (*.metrics.parquet, from "
                           "`molpeft eval --metrics`) with their manifests, or a `molpeft run` directory")
    matrix = matrix_cells(sources.cells)
    schema = {"variant": pl.String, "adapter": pl.String, "selection": pl.String, "seed": pl.Int64,
              **{c: pl.Float64 for c in columns}, "converged": pl.Boolean}
    rows = [row for cell, row, _ in read if row is not None and id(cell) in matrix]
    metrics = pl.DataFrame(rows, schema=schema, strict=False).sort("variant", "adapter", "selection", "seed")
    predictions = {cell.key: preds for cell, _, preds in read if preds is not None and id(cell) in matrix}
    if len(matrix) == len(sources.cells):
        return metrics, predictions, None, {}
    budget_rows = [{**row, "budget": cell.budget, "n_added": cell.n_added} for cell, row, _ in read
                   if row is not None and cell.budget is not None]
    budgets = pl.DataFrame(budget_rows, schema={**schema, "budget": pl.Int64, "n_added": pl.Int64}, strict=False
                           ).sort("variant", "adapter", "selection", "budget", "seed")
    budget_predictions = {(cell.key, cell.budget): preds for cell, _, preds in read
                          if preds is not None and cell.budget is not None}
    return metrics, predictions, budgets, budget_predictions


def matrix_cells(cells: Sequence[Cell]) -> set[int]:
    """The ids of the cells the matrix shows: all of them, unless a (route, adapter, selection) was run at more
    than one budget for one seed; then only its cells at the largest budget. (Budgets that differ only between
    seeds, as a threshold's selections do, are one budget each and all stay.)"""
    budgets: dict[tuple[str, str, str], dict[int, set[int]]] = {}
    for cell in cells:
        if cell.budget is not None:
            group = budgets.setdefault((cell.key.variant, cell.key.adapter, cell.key.selection), {})
            group.setdefault(cell.key.seed, set()).add(cell.budget)
    largest = {key: max(b for seeds in group.values() for b in seeds) for key, group in budgets.items()
               if any(len(seeds) > 1 for seeds in group.values())}
    return {id(cell) for cell in cells
            if largest.get((cell.key.variant, cell.key.adapter, cell.key.selection), cell.budget) == cell.budget}


def _read_cell(cell: Cell, task: str, notes: list[str], columns: Sequence[str]
               ) -> tuple[dict | None, pl.DataFrame | None]:
    """A cell's metrics row (its test metrics, recomputed from the predictions when the metrics are lost) and its
    test predictions."""
    key = cell.key
    preds = _test_predictions(cell.predictions, task, notes) if cell.predictions is not None else None
    row = {c: _number(cell.row.get(c)) for c in columns} if cell.row is not None else None
    if row is None and preds is not None:  # metrics lost: recompute them from the predictions
        row = _recomputed(task, preds)
        notes.append(f"{_rel(cell.predictions)}: no readable metrics file; "
                     f"{MAIN_METRIC[task].upper().replace('_', '-')} recomputed from its predictions")
    if row is None:
        return None, preds
    return {"variant": key.variant, "adapter": key.adapter, "selection": key.selection, "seed": key.seed,
            **{c: row.get(c) for c in columns}, "converged": _converged(cell)}, preds


def _recomputed(task: str, predictions: pl.DataFrame) -> dict[str, Any]:
    y, p = predictions["label"].to_numpy(), predictions["prediction"].to_numpy()
    if task == REGRESSION:
        return regression_metrics(y, p)
    from molpeft_cli.training.metrics import task_metrics

    return task_metrics(task, y, p)


def _converged(cell: Cell) -> bool | None:
    """Whether the cell's training converged (early stopping fired): from its metrics row, else from the
    checkpoint's finetune.json; None when neither says (runs made before convergence was recorded)."""
    value = (cell.row or {}).get("converged")
    if value is not None:
        return bool(value)
    if cell.checkpoint is None:
        return None
    try:
        value = json.loads((cell.checkpoint / "finetune.json").read_text()).get("converged")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def _test_predictions(path: Path, task: str, notes: list[str]) -> pl.DataFrame | None:
    table = _read_optional(path, notes)
    if table is None:
        return None
    score = "probability" if task == CLASSIFICATION and "probability" in table.columns else "prediction"
    if not {"mol_id", "label", score} <= set(table.columns):
        notes.append(f"{_rel(path)}: lacks mol_id/label/prediction; ignored")
        return None
    if "split" in table.columns:
        table = table.filter(pl.col("split") == "test")
    table = table.select(pl.col("mol_id").cast(pl.String), pl.col("label").cast(pl.Float64),
                         pl.col(score).cast(pl.Float64).alias("prediction"))
    return table.filter(pl.col("label").is_not_null() & pl.col("prediction").is_finite())


def _selections_of_cells(cells: Sequence[Cell], notes: list[str]) -> dict[tuple[str, int], pl.DataFrame]:
    """(selection, seed) -> the selected molecules, from the extra tables each checkpoint trained on (a folder
    without selections/)."""
    tables: dict[tuple[str, int], pl.DataFrame] = {}
    for cell in cells:
        key = (cell.key.selection, cell.key.seed)
        if not cell.extras or key in tables:
            continue
        parts = [t for t in (_read_optional(p, notes) for p in cell.extras) if t is not None and "mol_id" in t.columns]
        if parts:
            tables[key] = pl.concat([t.select(pl.col("mol_id").cast(pl.String)) for t in parts]).unique(
                maintain_order=True)
    return tables


def selection_manifests(run_dir: Path, cells: Sequence[Cell]) -> dict[tuple[str, int], dict[str, Any]]:
    """(strategy, seed) -> the manifest `molpeft select` wrote beside each selection table: under selections/ and
    those the cells' checkpoints trained on; the strategy and seed as the manifest records them (a strategy's
    several budgets share one seed's model, so the first table found stands for them)."""
    folder = run_dir / "selections"
    paths = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    paths += [p for cell in cells for p in cell.extras]
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for path in paths:
        manifest = _read_json(path.with_name(path.name + ".manifest.json"), [])
        params = (manifest or {}).get("params")
        if manifest is None or manifest.get("command") != "select" or not isinstance(params, dict):
            continue
        try:
            key = (str(params["strategy"]), int(manifest["seed"]))
        except (KeyError, TypeError, ValueError):
            continue
        found.setdefault(key, manifest)
    return found


def _read_seeded(folder: Path, notes: list[str]) -> dict[tuple[str, int], pl.DataFrame]:
    """(name, seed) -> table of `<name>-s<seed>.parquet`; a budget's table `<name>-k<K>-s<seed>.parquet` stands
    for its strategy and seed, at the largest K, only where no plain table does."""
    tables, budgeted = {}, {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        stem = path.name[: -len(".parquet")]
        key, budget = parse_selection_name(stem), None
        if key is None and (match := BUDGETED_SELECTION.match(stem)):
            key, budget = (match["strategy"], int(match["seed"])), int(match["k"])
            if key in budgeted and budgeted[key][0] > budget:
                continue
        table = _read_optional(path, notes) if key else None
        if table is None or "mol_id" not in table.columns:
            continue
        if budget is None:
            tables[key] = table
        else:
            budgeted[key] = (budget, table)
    return {**{key: table for key, (_, table) in budgeted.items()}, **tables}


def _read_optional(path: Path | None, notes: list[str]) -> pl.DataFrame | None:
    if path is None or not path.exists():
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
