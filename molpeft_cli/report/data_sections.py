"""Report sections on the data: split comparison, selection overlap, influence scores, leakage audit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from molpeft_cli.report import figures
from molpeft_cli.report.analysis import Analysis
from molpeft_cli.report.collect import SELECTION_ORDER, ordered
from molpeft_cli.report.document import Cell, Figure, Paragraph, Section, Table, fmt, fmt_count
from molpeft_cli.report.stats import selection_overlap


def split_section(analysis: Analysis) -> Section:
    compare = analysis.data.split_compare
    if compare is None or compare.height == 0 or "strategy" not in compare.columns:
        return Section("Split strategies compared", [Paragraph("No data/split_compare.parquet in this run.")])
    strategies = [str(s) for s in compare["strategy"].to_list()]
    rows: list[list[Cell]] = []
    for column in (c for c in compare.columns if c != "strategy"):
        values = compare[column]
        integral = values.dtype.is_integer()
        rows.append([column, *(fmt_count(v) if integral else fmt(v) for v in values.to_list())])
    return Section("Split strategies compared", [Table(
        ["quantity", *strategies], rows,
        caption="One column per split strategy. shared_scaffolds_total: scaffolds found in more than one split; "
                "test_max_tanimoto_*: each test molecule's highest Tanimoto similarity to the train split.")])


def overlap_section(analysis: Analysis, figures_dir: Path) -> Section:
    selections = analysis.data.selections
    strategies = ordered([name for name, _ in selections], SELECTION_ORDER)
    if not strategies:
        return Section("Selection overlap", [Paragraph("No selection tables (selections/*.parquet) in this run.")])
    mean, count = selection_overlap(selections, strategies)
    sizes = {s: [t.height for (name, _), t in selections.items() if name == s] for s in strategies}
    rows: list[list[Cell]] = [[a, *(fmt(mean[i, j], 2) if count[i, j] else "n/a" for j in range(len(strategies))),
                               f"{np.mean(sizes[a]):.0f}", str(len(sizes[a]))] for i, a in enumerate(strategies)]
    blocks = [Table(["strategy", *strategies, "molecules chosen (mean)", "seeds"], rows,
                    caption="Jaccard index of the chosen mol_id sets, computed per seed and averaged over the seeds "
                            "both strategies have. 1 = the same molecules, 0 = none in common.")]
    if len(strategies) > 1:
        blocks.append(Figure(figures.overlap_heatmap(strategies, mean, figures_dir / "selection_overlap.png"),
                             "Selection overlap (Jaccard, mean over seeds)."))
    return Section("Selection overlap", blocks)


def influence_section(analysis: Analysis, figures_dir: Path) -> Section:
    tables = {seed: t for seed, t in analysis.data.influence_scores.items() if "score" in t.columns}
    if not tables:
        return Section("Influence scores",
                       [Paragraph("No influence scores (scores/influence-s*.parquet) in this run.")])
    scores = {seed: t["score"].cast(pl.Float64).drop_nans().drop_nulls().to_numpy() for seed, t in tables.items()}
    rows: list[list[Cell]] = []
    for seed, values in sorted(scores.items()):
        chosen = analysis.data.selections.get(("influence", seed))
        rows.append([str(seed), str(values.size), str(int((values > 0).sum())),
                     *(fmt(f(values), 4) if values.size else "n/a" for f in (np.mean, np.median, np.min, np.max)),
                     str(chosen.height) if chosen is not None else "n/a"])
    target = "the TEST split (see the warning above)" if analysis.data.test_target_sources else "the validation split"
    blocks = [Paragraph("Score = grad L_target^T H^-1 grad L(z), with the target loss on " + target + ": positive "
                        "means adding the molecule is estimated to lower that loss; the influence selection keeps "
                        "positive scores."),
              Table(["seed", "pool molecules", "positive", "mean", "median", "min", "max", "selected"], rows)]
    if any(v.size for v in scores.values()):
        blocks.append(Figure(figures.influence_histogram(scores, figures_dir / "influence_scores.png"),
                             "Distribution of influence scores over the pool, per seed (vertical line at 0)."))
    return Section("Influence scores", blocks)


def audit_section(analysis: Analysis) -> Section:
    audit = analysis.data.audit
    if not audit:
        return Section("Leakage audit", [Paragraph("No data/audit.json in this run.")])
    rows: list[list[Cell]] = [
        ["pool molecules", fmt_count(audit.get("pool_size"))],
        ["same compound as a dataset molecule (InChIKey)", fmt_count(audit.get("same_inchikey"))],
        ["same skeleton, ignoring stereo (first InChIKey block)", fmt_count(audit.get("same_skeleton"))],
        ["same-compound pairs with conflicting labels", fmt_count(audit.get("label_conflicts"))],
    ]
    by_split = audit.get("by_split") or {}
    for split, counts in sorted(by_split.items()):
        if isinstance(counts, dict):
            rows.append([f"… colliding with {split}: InChIKey / skeleton",
                         f"{fmt_count(counts.get('same_inchikey'))} / {fmt_count(counts.get('same_skeleton'))}"])
    text = ("Pool molecules that are the same compound as a dataset molecule, from data/audit.json. By default the "
            "tool keeps those that duplicate a validation or test molecule out of selection.")
    return Section("Leakage audit", [Paragraph(text), Table(["check", "pool molecules"], rows)])
