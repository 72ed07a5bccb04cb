"""`build_report`: read a run directory (or any folder of evaluations, or metrics tables), analyse it, and write the
report folder in one atomic step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from molpeft_cli.data.atomic import atomic_dir, write_text_atomic
from molpeft_cli.data.manifest import build_manifest, now, write_manifest
from molpeft_cli.data.tables import write_table
from molpeft_cli.errors import MolpeftError
from molpeft_cli.report import budget_sections, data_sections, headline, results_sections, run_sections, uncertainty
from molpeft_cli.report.analysis import Analysis, ReportOptions, analyse
from molpeft_cli.report.collect import collect_run
from molpeft_cli.report.coverage import missing_cells
from molpeft_cli.report.document import Document, Paragraph, Section
from molpeft_cli.report.render_html import render_html
from molpeft_cli.report.render_md import render_markdown
from molpeft_cli.report.sources import RUN_LAYOUT
from molpeft_cli.tasks import CLASSIFICATION

INPUTS = ("run.json", "data/split.parquet", "data/pool.parquet", "data/split_compare.parquet", "data/audit.json",
          "eval", "selections", "scores")


def build_report(run_dir: str | Path | Sequence[str | Path], out_dir: str | Path,
                 options: ReportOptions | None = None, argv: list[str] | None = None) -> Path:
    """Write report.md, headline.md, report.html (self-contained), figures/*.png, cells.parquet, summary.parquet,
    differences.parquet, ratios.parquet (budgets.parquet when a strategy ran at several budgets) and manifest.json
    to `out_dir`, replacing it as a whole; returns `out_dir`. `run_dir`: a run directory, any folder of
    evaluations, or a list of metrics tables. `argv`: the command line recorded in the manifest."""
    out_dir = Path(out_dir)
    options = options or ReportOptions()
    started = now()
    given = [Path(run_dir)] if isinstance(run_dir, str | Path) else [Path(p) for p in run_dir]
    for path in given:
        check_output_dir(path if path.is_dir() or not path.suffix else path.parent, out_dir)
    data = collect_run(given)
    run_dir = data.run_dir
    check_output_dir(run_dir, out_dir)
    analysis = analyse(data, options)
    with atomic_dir(out_dir) as tmp:
        document = compose(analysis, tmp / "figures")
        write_text_atomic(tmp / "report.md", render_markdown(document, tmp))
        write_text_atomic(tmp / "report.html", render_html(document))
        write_text_atomic(tmp / "headline.md", render_markdown(headline_document(document), tmp))
        write_table(analysis.data.metrics, tmp / "cells.parquet")  # one row per cell and seed, with `converged`
        write_table(analysis.summary, tmp / "summary.parquet")  # one row per cell: mean and sd over seeds
        write_table(analysis.differences, tmp / "differences.parquet")
        write_table(analysis.ratios, tmp / "ratios.parquet")  # PEFT main metric over full fine-tuning's
        if analysis.budgets is not None:  # a strategy ran at several budgets: the curves and differences to random
            write_table(analysis.budgets, tmp / "budgets.parquet")
        params = {"n_resamples": options.n_resamples, "seed": options.seed, "baseline": options.baseline,
                  "chemprop": options.chemprop, "chemprop_config": asdict(options.chemprop_config),
                  "forest": asdict(options.forest), "influence_check": options.influence_check}
        inputs = {name: str(run_dir / name) for name in INPUTS if (run_dir / name).exists()}
        extra = {"seeds": data.seeds, "cells": data.metrics.height, "missing_cells": missing_cells(data),
                 "test_target_sources": data.test_target_sources}
        if data.task == CLASSIFICATION:
            extra["task"], extra["main_metric"] = data.task, data.metric
        if data.layout != RUN_LAYOUT:  # a folder of hand-chained evaluations, or tables given one by one
            extra.update(layout=data.layout, given=[str(p) for p in given], left_out=data.left_out,
                         routes=data.routes)
            if data.split_path is not None:
                inputs.setdefault("split", str(data.split_path))
        write_manifest(tmp, build_manifest("report", params, options.seed, inputs, started, extra,
                                                argv=argv), outputs_dir=True)
    return out_dir


def compose(analysis: Analysis, figures_dir: Path) -> Document:
    matrix = results_sections.matrix_section(analysis, figures_dir)
    sections = [
        headline.headline_section(analysis),
        run_sections.header_section(analysis),
        matrix,
        results_sections.statistics_section(analysis),
        *([budgets] if (budgets := budget_sections.budget_section(analysis, figures_dir)) else []),
        results_sections.tradeoff_section(analysis, figures_dir),
        results_sections.parity_section(analysis, figures_dir),  # ROC and calibration curves for classification
        results_sections.finetuning_section(analysis, figures_dir),
        data_sections.split_section(analysis),
        data_sections.overlap_section(analysis, figures_dir),
        *([checked] if (checked := uncertainty.uncertainty_section(
            analysis.data.selection_manifests, analysis.data.selection_names(), figures_dir)) else []),
        data_sections.influence_section(analysis, figures_dir),
        data_sections.audit_section(analysis),
    ]
    split = _split_name(analysis)
    if analysis.baseline is not None:
        forest = analysis.options.forest
        if analysis.task == CLASSIFICATION:
            matrix.blocks.append(Paragraph(
                f"RF classifier: scikit-learn RandomForestClassifier ({forest.n_trees} trees, max_features sqrt, "
                f"Breiman's classification default) on Morgan count fingerprints (radius {forest.radius}, "
                f"{forest.n_bits} bits), trained on the train split of {split} and scored by its predicted "
                "probability of the positive class (predict_proba) on its test split, one forest per seed."))
        else:
            matrix.blocks.append(Paragraph(
                f"RF baseline: scikit-learn random forest ({forest.n_trees} trees, max_features "
                f"{forest.max_features:.2f}) on Morgan count fingerprints (radius {forest.radius}, {forest.n_bits} "
                f"bits), trained on the train split of {split} and scored on its test split, one forest per seed."))
    if analysis.chemprop is not None:
        chemprop = analysis.options.chemprop_config
        kind = (" as a binary classifier (chemprop's --task-type classification: BCE loss, sigmoid output)"
                if analysis.task == CLASSIFICATION else "")
        matrix.blocks.append(Paragraph(
            f"chemprop baseline: chemprop v2 D-MPNN with its command-line defaults (bond messages, hidden "
            f"{chemprop.hidden}, depth {chemprop.depth}, norm aggregation, one FFN layer){kind} for "
            f"{chemprop.epochs} epochs, the best validation epoch scored on the same test split, one model per "
            "seed."))
    notes = run_sections.notes_section(analysis)
    if notes is not None:
        sections.append(notes)
    return Document(title=f"molpeft report: {analysis.data.run_dir.resolve().name}",
                    alerts=run_sections.test_target_alerts(analysis), sections=sections)


def _split_name(analysis: Analysis) -> str:
    data = analysis.data
    standard = data.run_dir / "data" / "split.parquet"
    return "data/split.parquet" if data.split_path in (None, standard) else str(data.split_path)


def headline_document(document: Document) -> Document:
    """The report's alerts and its headline section alone (headline.md), for a README or a paper's first page."""
    sections: list[Section] = [s for s in document.sections if s.title == headline.TITLE]
    return Document(title=document.title, alerts=document.alerts, sections=sections)


def check_output_dir(run_dir: Path, out_dir: Path) -> None:
    """The report folder is replaced as a whole, so refuse folders whose loss would hurt."""
    run, out = run_dir.resolve(), out_dir.resolve()
    if out == run or out in run.parents:
        raise MolpeftError(f"the report folder {out_dir} would replace the run directory; choose another -o")
    if out.exists() and not out.is_dir():
        raise MolpeftError(f"{out_dir} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise MolpeftError(f"{out_dir} exists, is not empty and holds no earlier report; it would be replaced, "
                           "so choose a new folder")


def _is_report(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("command") == "report"
    except (OSError, ValueError, AttributeError):
        return False
