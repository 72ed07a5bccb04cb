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
    trust = influence_trust(analysis)
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
              trust[0],
              Table(["seed", "pool molecules", "positive", "mean", "median", "min", "max", "selected"], rows)]
    blocks.extend(trust[1:])
    if any(v.size for v in scores.values()):
        blocks.append(Figure(figures.influence_histogram(scores, figures_dir / "influence_scores.png"),
                             "Distribution of influence scores over the pool, per seed (vertical line at 0)."))
    return Section("Influence scores", blocks)


def influence_trust(analysis: Analysis) -> list:
    """How far to trust the scores: the LDS of the run's own setting from a `molpeft influence-check` table,
    else a plain sentence that they are unverified; the check table itself follows when there is one."""
    import json

    run_dir = analysis.data.run_dir
    given = analysis.options.influence_check
    path = Path(given) if given else run_dir / "scores" / "influence-check.parquet"
    if given and not path.is_file():
        from molpeft_cli.errors import SettingError

        raise SettingError("influence_check", f"{{setting}}: no such file {given}")
    settings = set()
    for manifest in sorted((run_dir / "scores").glob("influence-s*.parquet.manifest.json")):
        try:
            params = json.loads(manifest.read_text()).get("params", {})
        except (OSError, ValueError):
            continue
        settings.add((str(params.get("params", "trainable")), str(params.get("solver", "lissa"))))
    described = ", ".join(f"scope {scope}, solver {solver}" for scope, solver in sorted(settings)) or "unknown"
    if not path.is_file():
        return [Paragraph(f"How far to trust these scores: they are UNVERIFIED for this model. No retraining check "
                          f"(`molpeft influence-check`) was given, so how well they predict the effect of adding "
                          f"molecules to training is unknown (this run's setting: {described}).")]
    check = pl.read_parquet(path)
    mine = check.filter(pl.struct("scope", "solver").map_elements(
        lambda row: (row["scope"], row["solver"]) in settings, return_dtype=pl.Boolean)) if settings else check[:0]
    if mine.height:
        row = mine.row(0, named=True)
        sentence = (f"How far to trust these scores: for this run's setting ({described}) the retraining check "
                    f"gave LDS {row['lds']:.2f} (95% CI {row['ci_low']:.2f} to {row['ci_high']:.2f}; "
                    f"{row['subsets']} pool subsets of {row['fraction']:.0%}, {row['epochs']} epoch(s) of "
                    f"retraining each; {path.name}). LDS is the Spearman correlation between the predicted and "
                    "the measured change of the validation loss when pool subsets are added: 1 = the scores rank "
                    "the effect of added molecules perfectly, 0 = no better than chance.")
    else:
        sentence = (f"How far to trust these scores: they are UNVERIFIED for this run's setting ({described}); "
                    f"the check {path.name} has no row for it (its rows are listed below).")
    table = Table(["scope", "solver", "parameters", "LDS", "95% CI", "subsets", "epochs"],
                  [[str(r["scope"]), str(r["solver"]), fmt_count(r["n_params"]), fmt(r["lds"], 2),
                    f"{fmt(r['ci_low'], 2)} to {fmt(r['ci_high'], 2)}", str(r["subsets"]), str(r["epochs"])]
                   for r in check.iter_rows(named=True)],
                  caption=f"Retraining check ({path.name}): LDS per influence setting, bootstrap CI over subsets.")
    return [Paragraph(sentence), table]


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
