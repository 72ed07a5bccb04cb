"""Turn a raw table (CSV/parquet with SMILES and labels) into the contract's molecule table.

Each row is parsed with RDKit (canonical SMILES, InChIKey, stable `mol_id`); rows that cannot be used go to a
rejects table with a reason; duplicate compounds (same InChIKey) are reported with their label spread and then
averaged, kept first, or refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from molpeft_cli.data.labels import LabelRule, decide_labels
from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION

MOLECULE_COLUMNS = ["mol_id", "smiles", "smiles_canonical", "inchikey", "label", "source"]
REJECT_COLUMNS = ["row", "mol_id", "smiles", "label", "reason"]
from molpeft_cli.choices import DEDUPE_MODES  # noqa: E402,F401 (re-exported)
from molpeft_cli.data.validate import SPLIT_VALUES  # noqa: E402

SMILES_NAMES = ("smiles", "canonical_smiles", "smiles_canonical", "smi", "mol", "molecule", "structure")
LABEL_NAMES = ("label", "exp", "y", "target", "value", "logd", "logp", "lipophilicity", "activity")
# the first names are the ones molpeft always looked for, in their order (a dataset keeps the id column it had);
# the later ones, and names spelled with spaces or dashes ("Compound ID"), are tried only when none of those is there
ID_NAMES = ("mol_id", "id", "cmpd_chemblid", "chembl_id", "compound_id", "molecule_id", "name",
            "molecule_chembl_id", "chemblid", "cmpd_id", "compound_name", "molecule_name", "mol_name", "drug_id",
            "identifier", "pubchem_cid", "cid", "zinc_id", "drugbank_id", "sample_id", "compound", "drug")
SPLIT_NAME = "split"  # a raw table's split column (e.g. a plain smiles,label,split CSV) is carried through


@dataclass
class DuplicateReport:
    groups: int = 0
    rows: int = 0
    max_label_spread: float = 0.0
    examples: list[dict] = field(default_factory=list)
    conflicting: int = 0  # classification: compounds whose copies have both classes


@dataclass
class BuildResult:
    molecules: pl.DataFrame
    rejects: pl.DataFrame
    duplicates: DuplicateReport
    columns: dict[str, str | None]
    labels: LabelRule = field(default_factory=lambda: LabelRule(REGRESSION))  # the task and the label mapping
    detected_id: bool = False  # the id column was found by its name (not given)


def detect_column(df: pl.DataFrame, given: str | None, candidates: tuple[str, ...], role: str,
                  loose: bool = False, taken: tuple[str | None, ...] = ()) -> str | None:
    """The column for `role`: the user's choice (checked), else the first common name found (case-insensitive);
    `loose`: then also with spaces, dashes and dots read as underscores. Columns in `taken` are skipped."""
    if given is not None:
        if given not in df.columns:
            raise MolpeftError(f"{role} column {given!r} not found; the table has: {', '.join(df.columns)}")
        return given
    lowered = {c.lower(): c for c in df.columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    if loose:
        normalised = {_normalise_name(c): c for c in reversed(df.columns) if c not in taken}
        for name in candidates:
            if name in normalised:
                return normalised[name]
    return None


def _normalise_name(column: str) -> str:
    import re

    return re.sub(r"[\s.\-]+", "_", column.strip().lower()).strip("_")


def is_molecule_table(df: pl.DataFrame) -> bool:
    return all(c in df.columns for c in ("mol_id", "smiles_canonical", "inchikey", "label"))


def build_molecule_table(
    raw: pl.DataFrame,
    source: str,
    smiles_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    unlabeled: bool = False,
    dedupe: str = "mean",
    task: str = "auto",
    positive_class: str | None = None,
) -> BuildResult:
    """The molecule table of `raw`; `task` (auto, regression, classification) decides how labels are read
    (`data.labels.decide_labels`: two label values of any spelling become 0/1 for classification)."""
    from molpeft_cli.chem.standardize import parse_smiles

    if dedupe not in DEDUPE_MODES:
        raise SettingError("dedupe", f"unknown {{setting}} {dedupe!r}; choose one of {', '.join(DEDUPE_MODES)}")
    if raw.height == 0:
        raise MolpeftError("input table has no rows")
    smiles_name = detect_column(raw, smiles_col, SMILES_NAMES, "SMILES")
    if smiles_name is None:
        raise SettingError(
            "smiles_col",
            f"no SMILES column found (looked for {', '.join(SMILES_NAMES)}); give {{setting}}. "
            f"Columns: {', '.join(raw.columns)}",
        )
    label_name = detect_column(raw, label_col, LABEL_NAMES, "label")
    if label_name is None and not unlabeled:
        raise SettingError(
            "label_col",
            f"no label column found (looked for {', '.join(LABEL_NAMES)}); give {{setting}}, "
            f"or {{unlabeled}} for a pool without labels. Columns: {', '.join(raw.columns)}",
        )
    id_name = detect_column(raw, id_col, ID_NAMES, "id", loose=True, taken=(smiles_name, label_name))
    split_name = detect_column(raw, None, (SPLIT_NAME,), "split")
    split_values = raw[split_name].cast(pl.String).to_list() if split_name else [None] * raw.height

    rows, rejects = [], []
    smiles_values = raw[smiles_name].cast(pl.String).to_list()
    label_values = raw[label_name].to_list() if label_name else [None] * raw.height
    rule = decide_labels(label_values if label_name else [], task, positive_class, column=label_name or "label")
    id_values = raw[id_name].cast(pl.String).to_list() if id_name else [None] * raw.height
    for i, (smi, lab, mid, part) in enumerate(zip(smiles_values, label_values, id_values, split_values,
                                                  strict=True)):
        row_number = i + 1
        parsed = parse_smiles(smi)
        reason = parsed.reason
        if reason is None and split_name is not None and (part or "").strip() not in SPLIT_VALUES:
            reason = f"unknown split {str(part)[:20]!r} (not {', '.join(SPLIT_VALUES)})"
        label = None
        if reason is None and label_name is not None:
            label, label_reason = rule.parse(lab)
            if label_reason and not (unlabeled and label_reason.startswith("missing")):
                reason = label_reason
        if reason is not None:
            rejects.append({"row": row_number, "mol_id": mid, "smiles": smi,
                            "label": None if lab is None else str(lab), "reason": reason})
            continue
        rows.append({
            "mol_id": mid.strip() if mid and mid.strip() else parsed.inchikey,
            "smiles": smi,
            "smiles_canonical": parsed.smiles_canonical,
            "inchikey": parsed.inchikey,
            "label": label,
            "source": source,
            **({SPLIT_NAME: part.strip()} if split_name else {}),
        })
    rejects_df = pl.DataFrame(rejects, schema=dict.fromkeys(REJECT_COLUMNS, pl.String) | {"row": pl.Int64})
    carried = [SPLIT_NAME] if split_name else []
    schema = dict.fromkeys(MOLECULE_COLUMNS + carried, pl.String) | {"label": pl.Float64}
    molecules = pl.DataFrame(rows, schema=schema)
    if split_name:
        _refuse_cross_split_duplicates(molecules)
    molecules, duplicates = _dedupe(molecules, dedupe, rule.task)
    repeated = molecules.filter(pl.col("mol_id").is_duplicated())["mol_id"].unique().to_list()
    if repeated:
        raise MolpeftError(
            f"id column {id_name!r} repeats ids for different compounds: {', '.join(map(str, repeated[:5]))}"
        )
    columns = {"smiles": smiles_name, "label": label_name, "id": id_name}
    if split_name:
        columns["split"] = split_name
    return BuildResult(molecules, rejects_df, duplicates, columns, rule, id_col is None and id_name is not None)


def _refuse_cross_split_duplicates(molecules: pl.DataFrame) -> None:
    """One compound in two splits would leak between them; merging the copies would hide that."""
    crossing = molecules.group_by("inchikey").agg(pl.col(SPLIT_NAME).n_unique().alias("n"),
                                                  pl.col("mol_id"), pl.col(SPLIT_NAME)).filter(pl.col("n") > 1)
    if crossing.height:
        first = crossing.sort("inchikey").row(0, named=True)
        shown = ", ".join(f"{m} ({s})" for m, s in zip(first["mol_id"], first[SPLIT_NAME], strict=True))
        raise MolpeftError(f"{crossing.height} compounds occur in more than one split (same InChIKey), e.g. "
                           f"{shown}; a compound must sit in one split")


def _dedupe(molecules: pl.DataFrame, mode: str, task: str = REGRESSION) -> tuple[pl.DataFrame, DuplicateReport]:
    """Merge copies of one compound: `mean` averages their labels (classification: the majority class, a tie
    going to the first copy's), `first` keeps the first copy, `error` refuses."""
    counts = molecules.group_by("inchikey").agg(
        pl.len().alias("n"),
        (pl.col("label").max() - pl.col("label").min()).alias("spread"),
        pl.col("mol_id").alias("ids"),
    ).filter(pl.col("n") > 1).sort("spread", descending=True, nulls_last=True)
    report = DuplicateReport(
        groups=counts.height,
        rows=int(counts["n"].sum()) if counts.height else 0,
        max_label_spread=float(counts["spread"].max() or 0.0) if counts.height else 0.0,
        examples=[
            {"inchikey": r["inchikey"], "n": r["n"], "label_spread": r["spread"], "mol_ids": r["ids"][:5]}
            for r in counts.head(5).iter_rows(named=True)
        ],
    )
    if task == CLASSIFICATION:
        report.conflicting = int((counts["spread"] > 0).sum())
    if report.groups == 0:
        return molecules, report
    if mode == "error":
        first = report.examples[0]
        raise SettingError(
            "dedupe",
            f"{report.groups} compounds occur more than once (same InChIKey), e.g. {first['inchikey']} "
            f"as {', '.join(map(str, first['mol_ids']))}; use {{setting}} mean or {{setting}} first",
        )
    molecules = molecules.with_row_index("_order")
    if mode == "mean" and task == CLASSIFICATION:
        votes = molecules.group_by("inchikey").agg(pl.col("label").mean().alias("_mean"),
                                                   pl.col("label").sort_by("_order").first().alias("_first"))
        majority = (pl.when(pl.col("_mean") > 0.5).then(1.0).when(pl.col("_mean") < 0.5).then(0.0)
                    .otherwise(pl.col("_first")))
        molecules = molecules.join(votes.with_columns(majority.alias("_mean")).drop("_first"), on="inchikey")
        molecules = molecules.with_columns(pl.col("_mean").cast(pl.Float64).alias("label"))
    elif mode == "mean":
        means = molecules.group_by("inchikey").agg(pl.col("label").mean().alias("_mean"))
        molecules = molecules.join(means, on="inchikey").with_columns(pl.col("_mean").alias("label"))
    kept = molecules.sort("_order").unique(subset="inchikey", keep="first", maintain_order=True)
    return kept.select([c for c in molecules.columns if c not in ("_order", "_mean")]), report


def validate_molecule_table(df: pl.DataFrame, what: str = "molecule table", labels_required: bool = False
                            ) -> pl.DataFrame:
    """A contract table checked row by row (see `molpeft_cli.data.validate`); TableError names bad rows."""
    from molpeft_cli.data.validate import validate_table

    return validate_table(df, what, labels_required=labels_required)
