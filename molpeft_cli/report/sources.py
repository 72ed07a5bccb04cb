"""Where a report's cells come from: the metrics tables of a directory (searched recursively: a `molpeft run`
directory or any folder of hand-chained evaluations) or given one by one, each followed through its manifest to its
predictions and its checkpoint. A cell's adapter, selection, seed and task are read from the checkpoint's
finetune.json, its route from what its base model is (two-stage: a `molpeft mlm` output; direct: any other model);
the metrics row's own columns and the file name are the fallbacks for files without manifests.

A cell's budget (how many pool molecules it asked for) is what its selection table's manifest asked (`k`) for a
strategy that takes one, else the number of molecules it added (finetune.json's `n_extra`, else the rows of its
selection tables); `none` is budget 0. The requested k groups the seeds of one budget, since a strategy may add fewer
molecules than asked (influence keeps positive scores only) and so differ between seeds; `n_added` keeps the number
actually added. File names are never read for the budget (a `-k<K>` in a cell's name is only skipped over).

The minimal layout: `<name>.metrics.parquet` (from `molpeft eval --metrics`) with its `.manifest.json`, naming the
checkpoint directory (its finetune.json and manifest.json) and the predictions table (`eval --output`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT, CellKey, parse_cell_name
from molpeft_cli.errors import MolpeftError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, TASKS

METRICS_SUFFIX, PREDICTIONS_SUFFIX = ".metrics.parquet", ".predictions.parquet"
RUN_LAYOUT, DIRECTORY_LAYOUT, FILES_LAYOUT = "run", "directory", "files"
BUDGET_IN_NAME = re.compile(r"-k\d+(?=-s\d+$)")  # `<cell>-k<K>-s<seed>`: a budget's cell, read by its files
SKIPPED_FOLDERS = ("baseline", "report")  # the report's own cache and output, inside a run directory
LAYOUT_HELP = (
    "The minimal layout: each cell is one `molpeft eval` output: a metrics table `<name>.metrics.parquet` (eval "
    "--metrics) and its predictions table (eval --output), with the `.manifest.json` eval writes beside them, which "
    "names the checkpoint; the checkpoint directory keeps its finetune.json and manifest.json (adapter, selection, "
    "seed, task, base model). Any file names and folders; the route is two-stage when the base model is a `molpeft "
    "mlm` output, direct otherwise. A `molpeft run` directory adds run.json, data/split.parquet, data/pool.parquet, "
    "data/audit.json, selections/ and scores/; without them the report says what it leaves out.")


@dataclass
class Cell:
    """One evaluated cell: where its files are and what it is."""

    key: CellKey
    task: str
    row: dict[str, Any] | None  # the metrics row (test split); None: recompute from the predictions
    metrics: Path | None
    predictions: Path | None
    checkpoint: Path | None
    data: Path | None = None  # the molecule table eval scored
    route_from: str = "base model"  # base model | recorded label | file name | assumed
    extras: tuple[Path, ...] = ()  # the selection tables the checkpoint trained on
    budget: int | None = None  # the molecules its selection asked for (0 for none); None: not known
    n_added: int | None = None  # the pool molecules it actually added


@dataclass
class Sources:
    root: Path
    layout: str
    cells: list[Cell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_sources(paths: Sequence[str | Path]) -> Sources:
    """The cells of one directory, or of the given metrics tables."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise MolpeftError("give a run directory, a folder of evaluations, or metrics tables (*.metrics.parquet)")
    if len(paths) == 1 and not paths[0].name.endswith(METRICS_SUFFIX) and not paths[0].is_file():
        root = paths[0]
        if not root.is_dir():
            raise MolpeftError(f"run directory not found: {root}")
        layout = RUN_LAYOUT if (root / "run.json").is_file() else DIRECTORY_LAYOUT
        sources = Sources(root, layout)
        tables = _search(root, METRICS_SUFFIX)
        _add_cells(sources, tables, _search(root, PREDICTIONS_SUFFIX))
        return sources
    bad = [str(p) for p in paths if not p.name.endswith(METRICS_SUFFIX)]
    if bad:
        raise MolpeftError(f"report takes one directory or metrics tables (*{METRICS_SUFFIX}); got {bad[0]}")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise MolpeftError(f"metrics table not found: {missing[0]}")
    sources = Sources(files_root(paths), FILES_LAYOUT)
    _add_cells(sources, sorted(set(paths)), [])
    return sources


def files_root(paths: Sequence[Path]) -> Path:
    """The folder that stands for metrics tables given one by one: their common folder, or the run directory
    above it when that folder is a run's eval/."""
    parents = [p.resolve().parent for p in paths]
    common = Path(*Path(parents[0]).parts[:min(len(p.parts) for p in parents)])
    for i, part in enumerate(common.parts):
        if any(p.parts[i] != part for p in parents):
            common = Path(*common.parts[:i])
            break
    return common.parent if (common.parent / "run.json").is_file() and common.name == "eval" else common


def _search(root: Path, suffix: str) -> list[Path]:
    """Tables under `root` ending in `suffix`, outside hidden folders and the report's own folders."""
    found = []
    for path in sorted(root.rglob(f"*{suffix}")):
        parts = path.relative_to(root).parts
        if any(p.startswith(".") for p in parts) or (len(parts) > 1 and parts[0] in SKIPPED_FOLDERS):
            continue
        found.append(path)
    return found


def _add_cells(sources: Sources, metrics_tables: list[Path], predictions_tables: list[Path]) -> None:
    index = _Index(sources.root)
    claimed: set[Path] = set()
    for path in metrics_tables:
        cell = _cell_of_metrics(path, index, sources.notes)
        if cell is not None:
            sources.cells.append(cell)
            if cell.predictions is not None:
                claimed.add(cell.predictions.resolve())
    for path in predictions_tables:  # an evaluation without a metrics table (eval without --metrics, or lost)
        if path.resolve() in claimed or path.with_name(_stem(path, PREDICTIONS_SUFFIX) + METRICS_SUFFIX).exists():
            continue
        cell = _cell_of_predictions(path, index, sources.notes)
        if cell is not None:
            sources.cells.append(cell)
    _drop_duplicates(sources)


def _stem(path: Path, suffix: str) -> str:
    return path.name[: -len(suffix)]


def _cell_of_metrics(path: Path, index: _Index, notes: list[str]) -> Cell | None:
    manifest = _json(path.with_name(path.name + ".manifest.json"))
    if manifest is not None and manifest.get("command") != "eval":
        if manifest.get("command") != "report baseline":
            notes.append(f"{_rel(path, index.root)}: written by `{manifest.get('command')}`, not `molpeft eval`; "
                         "skipped")
        return None
    stem = _stem(path, METRICS_SUFFIX)
    table = _read(path, index.root, notes)
    row = None
    if table is not None and table.height:
        row = _test_row(table)
        if row is None:
            shown = ", ".join(sorted(str(s) for s in table["split"].unique().to_list()))
            notes.append(f"{_rel(path, index.root)}: evaluated on split {shown}, not test; left out")
            return None
    predictions = _recorded_path(manifest, "output") if manifest else None
    if predictions is None or not predictions.is_file():
        sibling = path.with_name(stem + PREDICTIONS_SUFFIX)
        predictions = sibling if sibling.is_file() else None
    return _cell(stem, path, row, predictions, manifest, index, notes)


def _cell_of_predictions(path: Path, index: _Index, notes: list[str]) -> Cell | None:
    manifest = _json(path.with_name(path.name + ".manifest.json"))
    stem = _stem(path, PREDICTIONS_SUFFIX)
    if manifest is None and parse_cell_name(stem) is None:
        return None  # not recognisably an evaluation
    if manifest is not None and manifest.get("command") != "eval":
        return None
    row = None
    if manifest is not None and isinstance(manifest.get("metrics"), dict):
        row = manifest["metrics"] if manifest["metrics"].get("split") in (None, "test") else None
        if row is None:
            return None
    return _cell(stem, None, row, path, manifest, index, notes)


def _cell(stem: str, metrics: Path | None, row: dict | None, predictions: Path | None,
          manifest: dict | None, index: _Index, notes: list[str]) -> Cell | None:
    where = _rel(metrics or predictions, index.root)
    checkpoint = index.checkpoint(_recorded_path(manifest, "checkpoint") if manifest else None)
    meta = _json(checkpoint / "finetune.json") if checkpoint is not None else None
    named = parse_cell_name(BUDGET_IN_NAME.sub("", stem))
    row_values = row or {}
    adapter = _first(meta, "peft", row_values, named and named.adapter)
    selection = _first(meta, "selection", row_values, named and named.selection)
    seed = _first(meta, "seed", row_values, named and named.seed)
    if adapter is None or selection is None or seed is None:
        notes.append(f"{where}: its checkpoint's finetune.json is not found and the table does not say its "
                     "adapter, selection and seed; skipped")
        return None
    variant, route_from = _route(meta, checkpoint, index, row_values, named)
    if route_from == "assumed":
        notes.append(f"{where}: the base model of its checkpoint is not found, so its route is unknown; counted "
                     "as direct")
    task = _task(meta, row_values, predictions)
    data = _recorded_path(manifest, "data") if manifest else None
    extras = tuple(index.extras(checkpoint)) if checkpoint is not None else ()
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        notes.append(f"{where}: seed {seed!r} is not a whole number; skipped")
        return None
    budget, n_added = _budget(meta, str(selection), extras)
    return Cell(CellKey(variant, str(adapter), str(selection), seed), task, row, metrics, predictions, checkpoint,
                data, route_from, extras, budget, n_added)


def _budget(meta: dict | None, selection: str, extras: Sequence[Path]) -> tuple[int | None, int | None]:
    """(budget, molecules added) of a cell: see the module's docstring."""
    recorded = (meta or {}).get("n_extra")
    n_added = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else None
    if selection == "none":
        return 0, 0 if n_added is None else n_added
    if n_added is None and extras:
        n_added = sum(_rows(p) for p in extras)
    requested = _requested_k(extras[0]) if len(extras) == 1 else None
    return (requested if requested is not None else n_added), n_added


def _rows(path: Path) -> int:
    import polars as pl

    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except Exception:  # noqa: BLE001 - an unreadable table adds nothing here; it is noted where it is read
        return 0


def _requested_k(table: Path) -> int | None:
    """The `k` a selection table's manifest asked for, when its strategy takes one and no threshold replaced it."""
    from molpeft_cli.selection import REGISTRY

    manifest = _json(table.with_name(table.name + ".manifest.json")) or {}
    params = manifest.get("params") if isinstance(manifest.get("params"), dict) else {}
    strategy, k = params.get("strategy"), params.get("k")
    if strategy not in REGISTRY or not REGISTRY[strategy].takes_k or params.get("threshold") is not None:
        return None
    return k if isinstance(k, int) and not isinstance(k, bool) else None


def _first(meta: dict | None, key: str, row: dict, fallback: Any) -> Any:
    for value in ((meta or {}).get(key), row.get(key)):
        if value is not None and value != "":
            return value
    return fallback


def _route(meta: dict | None, checkpoint: Path | None, index: _Index, row: dict,
           named: CellKey | None) -> tuple[str, str]:
    """two-stage when the checkpoint's base model is a `molpeft mlm` output, direct for any other model; the
    recorded label (eval --variant) or the file name when the base model cannot be found."""
    if meta is not None and isinstance(meta.get("base_model"), dict):
        base = index.base_model(meta["base_model"], checkpoint)
        if base is not None:
            return (MAIN_VARIANT if base == "mlm" else DIRECT_VARIANT), "base model"
    if row.get("variant") in (MAIN_VARIANT, DIRECT_VARIANT):
        return row["variant"], "recorded label"
    if named is not None:
        return named.variant, "file name"
    return DIRECT_VARIANT, "assumed"


def _task(meta: dict | None, row: dict, predictions: Path | None) -> str:
    """finetune.json's task; else a `task` column in the metrics row; else a `probability` column in the
    predictions; else regression (the only task before classification was added)."""
    for value in ((meta or {}).get("task"), row.get("task")):
        if value in TASKS:
            return value
    if predictions is not None:
        import polars as pl

        try:
            if "probability" in pl.read_parquet_schema(predictions):
                return CLASSIFICATION
        except Exception:  # noqa: BLE001 - an unreadable table is noted where it is read
            pass
    return REGRESSION


def _drop_duplicates(sources: Sources) -> None:
    """Two tables for one cell (the same checkpoint evaluated twice, or two runs of one setting): the first kept."""
    seen: dict[tuple[CellKey, int | None], Cell] = {}
    kept = []
    for cell in sources.cells:
        if (cell.key, cell.budget) in seen:
            first = seen[(cell.key, cell.budget)]
            sources.notes.append(f"{_rel(cell.metrics or cell.predictions, sources.root)} is the same cell as "
                                 f"{_rel(first.metrics or first.predictions, sources.root)} ({cell.key.name}); "
                                 "the first kept")
            continue
        seen[(cell.key, cell.budget)] = cell
        kept.append(cell)
    sources.cells = kept


def common_data(cells: Sequence[Cell]) -> tuple[Path | None, int]:
    """The molecule table most cells were evaluated on (it holds the split) and how many distinct tables there were."""
    counts = Counter(c.data for c in cells if c.data is not None and c.data.is_file())
    if not counts:
        return None, 0
    return counts.most_common(1)[0][0], len(counts)


class _Index:
    """Finds checkpoints and base models whose recorded paths moved (a directory copied elsewhere): by folder name
    under the root, checked against the recorded hash for base models."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, list[Path]] | None = None
        self._bases: dict[tuple[str, str], str | None] = {}

    def _by_name(self, name: str) -> list[Path]:
        if self._dirs is None:
            self._dirs = {}
            for manifest in sorted(self.root.rglob("manifest.json")):
                self._dirs.setdefault(manifest.parent.name, []).append(manifest.parent)
        return self._dirs.get(name, [])

    def checkpoint(self, recorded: Path | None) -> Path | None:
        """The checkpoint directory a manifest names: the one of that name under the root when the recorded path
        lies outside it (a copied directory reads its own files), else the recorded path."""
        if recorded is None:
            return None
        found = [d for d in self._by_name(recorded.name) if (d / "finetune.json").is_file()]
        inside = _within(recorded, self.root)
        if (recorded / "finetune.json").is_file() and (inside or len(found) != 1):
            return recorded
        return found[0] if len(found) == 1 else None

    def base_model(self, base: dict, checkpoint: Path | None) -> str | None:
        """'mlm' when the base model is a `molpeft mlm` output, 'other' for any other model, None if not found."""
        key = (str(base.get("path")), str(base.get("sha256")))
        if key not in self._bases:
            self._bases[key] = self._base_kind(base, checkpoint)
        return self._bases[key]

    def _base_kind(self, base: dict, checkpoint: Path | None) -> str | None:
        from molpeft_cli.model.hub import BUNDLED_MODELS

        ref = str(base.get("ref") or "")
        candidates = [Path(p) for p in (base.get("path"), ref) if p]
        if ref and not Path(ref).is_absolute() and checkpoint is not None:
            candidates.append(checkpoint.parent / ref)
        directory = next((c for c in candidates if (c / "config.json").is_file()), None)
        if directory is None and base.get("path"):
            directory = self._moved_base(Path(str(base["path"])).name, base.get("sha256"))
        if directory is None:
            return "other" if ref in BUNDLED_MODELS else None
        manifest = _json(directory / "manifest.json")
        return "mlm" if manifest is not None and manifest.get("command") == "mlm" else "other"

    def _moved_base(self, name: str, sha256: Any) -> Path | None:
        from molpeft_cli.training.checkpoint import weights_sha256

        for directory in self._by_name(name):
            if (directory / "config.json").is_file() and weights_sha256(directory) == sha256:
                return directory
        return None

    def extras(self, checkpoint: Path) -> list[Path]:
        """The selection tables (finetune --extra) the checkpoint trained on, from its manifest."""
        manifest = _json(checkpoint / "manifest.json") or {}
        inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
        paths = [Path(str(v.get("path"))) for k, v in sorted(inputs.items())
                 if k.startswith("extra") and isinstance(v, dict) and v.get("path")]
        return [p for p in paths if p.is_file()]


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _recorded_path(manifest: dict, name: str) -> Path | None:
    """A path the manifest records: an input's path, else the config's setting of that name."""
    inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
    entry = inputs.get(name)
    if isinstance(entry, dict) and entry.get("path"):
        return Path(str(entry["path"]))
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    value = config.get(name)
    return Path(str(value)) if isinstance(value, str) and value and value != "-" else None


def _test_row(table) -> dict[str, Any] | None:
    """The metrics row of the test split (or the first row of a table without a split column); None when the
    table holds other splits only (`eval --split all` mixes the training molecules in)."""
    import polars as pl

    if "split" in table.columns:
        tested = table.filter(pl.col("split") == "test")
        return tested.row(0, named=True) if tested.height else None
    return table.row(0, named=True)


def _read(path: Path, root: Path, notes: list[str]):
    from molpeft_cli.data.tables import read_table

    try:
        return read_table(path)
    except MolpeftError as exc:
        notes.append(f"{_rel(path, root)}: unreadable ({exc}); left out")
        return None


def _json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
