"""Turn a raw table (CSV/parquet with SMILES and labels) into the contract's molecule table.

Each row is parsed with RDKit (canonical SMILES, InChIKey, stable `mol_id`); rows that cannot be used go to a
rejects table with a reason; duplicate compounds (same InChIKey) are reported with their label spread and then
averaged, kept first, or refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from molpeft_cli.errors import MolpeftError, SettingError

MOLECULE_COLUMNS = ["mol_id", "smiles", "smiles_canonical", "inchikey", "label", "source"]
REJECT_COLUMNS = ["row", "mol_id", "smiles", "label", "reason"]
from molpeft_cli.choices import DEDUPE_MODES  # noqa: E402,F401 (re-exported)
from molpeft_cli.data.validate import SPLIT_VALUES  # noqa: E402

SMILES_NAMES = ("smiles", "canonical_smiles", "smiles_canonical", "smi", "mol", "molecule", "structure")
LABEL_NAMES = ("label", "exp", "y", "target", "value", "logd", "logp", "lipophilicity", "activity")
ID_NAMES = ("mol_id", "id", "cmpd_chemblid", "chembl_id", "compound_id", "molecule_id", "name")
SPLIT_NAME = "split"  # a raw table's split column (e.g. a plain smiles,label,split CSV) is carried through


@dataclass
class DuplicateReport:
    groups: int = 0
    rows: int = 0
    max_label_spread: float = 0.0
    examples: list[dict] = field(default_factory=list)


@dataclass
class BuildResult:
    molecules: pl.DataFrame
    rejects: pl.DataFrame
    duplicates: DuplicateReport
    columns: dict[str, str | None]


def detect_column(df: pl.DataFrame, given: str | None, candidates: tuple[str, ...], role: str) -> str | None:
    """The column for `role`: the user's choice (checked), else the first common name found (case-insensitive)."""
    if given is not None:
        if given not in df.columns:
            raise MolpeftError(f"{role} column {given!r} not found; the table has: {', '.join(df.columns)}")
        return given
    lowered = {c.lower(): c for c in df.columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    return None


def is_molecule_table(df: pl.DataFrame) -> bool:
    return all(c in df.columns for c in ("mol_id", "smiles_canonical", "inchikey", "label"))


def _parse_label(value) -> tuple[float | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing label"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"non-numeric label {str(value)[:30]!r}"
    if not math.isfinite(number):
        return None, "missing label (NaN)" if math.isnan(number) else "infinite label"
    return number, None


def build_molecule_table(
    raw: pl.DataFrame,
    source: str,
    smiles_col: str | None = None,
    label_col: str | None = None,
    id_col: str | None = None,
    unlabeled: bool = False,
    dedupe: str = "mean",
) -> BuildResult:
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
    id_name = detect_column(raw, id_col, ID_NAMES, "id")
    split_name = detect_column(raw, None, (SPLIT_NAME,), "split")
    split_values = raw[split_name].cast(pl.String).to_list() if split_name else [None] * raw.height

    rows, rejects = [], []
    smiles_values = raw[smiles_name].cast(pl.String).to_list()
    label_values = raw[label_name].to_list() if label_name else [None] * raw.height
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
            label, label_reason = _parse_label(lab)
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
    molecules, duplicates = _dedupe(molecules, dedupe)
    repeated = molecules.filter(pl.col("mol_id").is_duplicated())["mol_id"].unique().to_list()
    if repeated:
        raise MolpeftError(
            f"id column {id_name!r} repeats ids for different compounds: {', '.join(map(str, repeated[:5]))}"
        )
    columns = {"smiles": smiles_name, "label": label_name, "id": id_name}
    if split_name:
        columns["split"] = split_name
    return BuildResult(molecules, rejects_df, duplicates, columns)


def _refuse_cross_split_duplicates(molecules: pl.DataFrame) -> None:
    """One compound in two splits would leak between them; merging the copies would hide that."""
    crossing = molecules.group_by("inchikey").agg(pl.col(SPLIT_NAME).n_unique().alias("n"),
                                                  pl.col("mol_id"), pl.col(SPLIT_NAME)).filter(pl.col("n") > 1)
    if crossing.height:
        first = crossing.sort("inchikey").row(0, named=True)
        shown = ", ".join(f"{m} ({s})" for m, s in zip(first["mol_id"], first[SPLIT_NAME], strict=True))
        raise MolpeftError(f"{crossing.height} compounds occur in more than one split (same InChIKey), e.g. "
                           f"{shown}; a compound must sit in one split")


def _dedupe(molecules: pl.DataFrame, mode: str) -> tuple[pl.DataFrame, DuplicateReport]:
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
    if mode == "mean":
        means = molecules.group_by("inchikey").agg(pl.col("label").mean().alias("_mean"))
        molecules = molecules.join(means, on="inchikey").with_columns(pl.col("_mean").alias("label"))
    kept = molecules.sort("_order").unique(subset="inchikey", keep="first", maintain_order=True)
    return kept.select([c for c in molecules.columns if c not in ("_order", "_mean")]), report


def validate_molecule_table(df: pl.DataFrame, what: str = "molecule table", labels_required: bool = False
                            ) -> pl.DataFrame:
    """A contract table checked row by row (see `molpeft_cli.data.validate`); TableError names bad rows."""
    from molpeft_cli.data.validate import validate_table

    return validate_table(df, what, labels_required=labels_required)
