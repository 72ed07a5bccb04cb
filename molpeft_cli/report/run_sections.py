"""Report sections on the run itself: what was run (run.json), test-target alerts, missing cells and notes."""

from __future__ import annotations

from typing import Any

import polars as pl

from molpeft_cli.report.analysis import Analysis
from molpeft_cli.report.coverage import cells_without_predictions, missing_cells
from molpeft_cli.report.document import Alert, Bullets, Paragraph, Section, Table
from molpeft_cli.report.sources import FILES_LAYOUT, LAYOUT_HELP, RUN_LAYOUT
from molpeft_cli.report.wording import ROUTE_NAMES, metric_name
from molpeft_cli.tasks import CLASSIFICATION

KNOWN_KEYS = ("profile", "model", "adapters", "selections", "seeds", "pool", "started", "ended", "data", "task")
ROUTE_EVIDENCE = {"base model": "its checkpoint's base model (a `molpeft mlm` output: two-stage; any other: direct)",
                  "recorded label": "the route label eval recorded (--variant), the base model not being found",
                  "file name": "the file name, the table having no manifest",
                  "assumed": "nothing: counted as direct, the base model not being found (see the notes)"}


def test_target_alerts(analysis: Analysis) -> list[Alert]:
    sources = analysis.data.test_target_sources
    if not sources:
        return []
    return [Alert("THE TEST SPLIT WAS USED AS AN INFLUENCE TARGET (\"target\": \"test\"): influence scores and the "
                  "selections built on them have seen the test labels, so their test MSE is optimistic and not a "
                  "fair comparison. Found in: " + "; ".join(sources))]


def describe_pool(analysis: Analysis) -> str:
    pool = analysis.data.run_info.get("pool")
    size = analysis.data.pool.height if analysis.data.pool is not None else None
    counted = f"{size} molecules in data/pool.parquet" if size is not None else "no data/pool.parquet"
    if not isinstance(pool, dict):
        return f"not described in run.json ({counted})"
    kind = pool.get("kind")
    if kind == "file":
        where = f"external file {pool.get('path', '?')}"
    elif kind == "carved":
        n = pool.get("n")
        where = "carved from the dataset (whole scaffold groups)" + (f", n = {n}" if n is not None else "")
    else:
        where = f"kind {kind!r}"
    extra = ", ".join(f"{k} = {_short(v)}" for k, v in pool.items() if k not in ("kind", "path", "n"))
    return f"{where}; {counted}" + (f"; {extra}" if extra else "")


def header_section(analysis: Analysis) -> Section:
    data = analysis.data
    info = data.run_info
    seeds = data.seeds
    rows = [["run directory" if data.layout != FILES_LAYOUT else "metrics tables under", str(data.run_dir)]]
    if "data" in info:
        rows.append(["dataset", _short(info["data"])])
    if "data" in info or "task" in info or data.task == CLASSIFICATION:
        rows.append(["task", f"{data.task} (main metric: {metric_name(analysis.metric)})"])
    for key in ("profile", "model", "adapters", "selections"):
        if key in info:
            rows.append([key, _short(info[key])])
    rows.append(["seeds evaluated", f"{len(seeds)} ({', '.join(map(str, seeds))})"])
    rows.append(["pool", describe_pool(analysis)])
    for key in ("started", "ended"):
        if key in info:
            rows.append([key, _short(info[key])])
    if data.training_environments:
        rows.append(["fine-tuned with", "; ".join(f"{where} ({n} run{'' if n == 1 else 's'})"
                                                  for where, n in data.training_environments.items())])
    rows += [[key, _short(value)] for key, value in info.items()
             if key not in KNOWN_KEYS and isinstance(value, str | int | float | bool | list)]
    blocks = [Table(["setting", "value"], rows, caption="From run.json and the evaluation files.", text_columns=2)]
    if not info:
        blocks.insert(0, Paragraph("No readable run.json: the settings below come from the evaluation files only."))
    if data.layout != RUN_LAYOUT:
        blocks += layout_blocks(analysis)
    if len(seeds) == 1:
        blocks.append(Paragraph("One seed: one seed gives no spread, so sd is shown as n/a and confidence intervals "
                                "reflect test-molecule sampling only. Rerun with more seeds before drawing "
                                "conclusions."))
    blocks.append(Paragraph(convergence_text(data)))
    missing = missing_cells(data)
    blocks.append(Paragraph(f"Missing cells ({len(missing)}): the planned grid cells with no evaluation result."
                            if missing else "Every planned cell has an evaluation result for every seed."))
    if missing:
        blocks.append(Bullets(missing))
    return Section("What was run", blocks)


def layout_blocks(analysis: Analysis) -> list:
    """For a folder of hand-chained evaluations (or metrics tables given alone): how the cells were read, and
    what the report leaves out because the folder lacks it."""
    data = analysis.data
    where = ("the metrics tables given" if data.layout == FILES_LAYOUT
             else f"the metrics tables found under {data.run_dir} (searched recursively)")
    routes = "; ".join(f"{n} cell{'s' if n != 1 else ''} from {ROUTE_EVIDENCE.get(how, how)}"
                       for how, n in data.routes.items())
    blocks: list = [Paragraph(f"Not a `molpeft run` directory: the cells are {where}, each read through its "
                              f"manifest and its checkpoint's finetune.json, not its file name. The grid shows "
                              f"{ROUTE_NAMES[data.main_variant]}. Routes read from: {routes}."),
                    Paragraph(LAYOUT_HELP)]
    if data.left_out:
        blocks += [Paragraph("Left out, because these evaluations come without them:"), Bullets(data.left_out)]
    return blocks


def convergence_text(data) -> str:
    """How many fine-tuning runs converged (early stopping fired before --max-epochs), naming those that did not."""
    metrics = data.metrics
    if "converged" not in metrics.columns or metrics["converged"].is_null().all():
        return "Convergence: not recorded for these cells (made before molpeft recorded it)."
    known = metrics.filter(pl.col("converged").is_not_null())
    failed = known.filter(~pl.col("converged"))
    watched = "validation MSE" if data.task != CLASSIFICATION else "validation metric (--stop-metric)"
    text = (f"Convergence: {known.height - failed.height} of {known.height} fine-tuning runs converged (early "
            f"stopping fired: the {watched} stopped improving for --patience epochs before --max-epochs).")
    if failed.height:
        names = [f"{r['variant']}/{r['adapter']}/{r['selection']} seed {r['seed']}"
                 for r in failed.iter_rows(named=True)]
        text += " Not converged (marked ‡ in the matrix): " + "; ".join(names) + "."
    unknown = metrics.height - known.height
    if unknown:
        text += f" Not recorded for {unknown} run(s)."
    return text


def notes_section(analysis: Analysis) -> Section | None:
    notes = list(analysis.data.notes)
    lacking = cells_without_predictions(analysis.data)
    if lacking:
        notes.append("no test predictions (no interval or parity plot) for: " + "; ".join(lacking))
    if analysis.baseline_note:
        notes.append(analysis.baseline_note)
    if analysis.chemprop_note:
        notes.append(analysis.chemprop_note)
    return Section("Notes on the inputs", [Bullets(notes)]) if notes else None


def _short(value: Any, limit: int = 160) -> str:
    if isinstance(value, list | tuple):
        text = ", ".join(_short(v, limit) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {_short(v, limit)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
