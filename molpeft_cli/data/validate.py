"""One validation of molecule and split tables at load time, for every command that reads one.

A table that reaches training or evaluation must have, in every row: a SMILES that RDKit parses, with no
whitespace inside (RDKit would take what follows as a name), a finite label (or none, where the table may be
unlabeled; never NaN or inf), a non-empty unique `mol_id`, and a `split` (when it has that column) of train, valid
or test. Problems are reported together, naming the rows (1-based, as
a spreadsheet counts data rows) and their ids, as one `TableError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from molpeft_cli.errors import InputError

SPLIT_VALUES = ("train", "valid", "test")
SHOW_ROWS = 5
REQUIRED = ("mol_id", "smiles_canonical", "inchikey", "label")


class TableError(InputError):
    """A molecule/split table that cannot be used as it is."""


@dataclass(frozen=True)
class Problem:
    what: str  # e.g. "invalid SMILES"
    rows: list[int]  # 0-based positions
    ids: list[str | None]


def _rows_text(problem: Problem) -> str:
    shown = []
    for row, mol_id in list(zip(problem.rows, problem.ids, strict=True))[:SHOW_ROWS]:
        shown.append(f"row {row + 1}" + (f" ({mol_id})" if mol_id else ""))
    more = f" and {len(problem.rows) - SHOW_ROWS} more" if len(problem.rows) > SHOW_ROWS else ""
    return ", ".join(shown) + more


def describe(problems: Sequence[Problem]) -> str:
    return "; ".join(f"{len(p.rows)} {p.what}: {_rows_text(p)}" for p in problems)


def _positions(mask: pl.Series) -> list[int]:
    return [i for i, bad in enumerate(mask.fill_null(True).to_list()) if bad]


def _unparsable(smiles: list[str | None]) -> list[int]:
    """Positions whose SMILES RDKit cannot parse (each distinct SMILES parsed once)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    verdict: dict[str, bool] = {}
    bad = []
    for i, text in enumerate(smiles):
        if text is None or not text.strip():
            continue  # reported as empty
        if text not in verdict:
            mol = Chem.MolFromSmiles(text)
            verdict[text] = mol is not None and mol.GetNumAtoms() > 0
        if not verdict[text]:
            bad.append(i)
    return bad


def table_problems(df: pl.DataFrame, *, labels_required: bool = False,
                   splits: Sequence[str] | None = SPLIT_VALUES) -> list[Problem]:
    """Every problem of a contract molecule table (columns checked by the caller)."""
    ids = df["mol_id"].cast(pl.String).to_list()
    problems: list[Problem] = []

    def add(what: str, rows: list[int]) -> None:
        if rows:
            problems.append(Problem(what, rows, [ids[i] for i in rows]))

    smiles = df["smiles_canonical"].cast(pl.String).to_list()
    add("empty SMILES", [i for i, s in enumerate(smiles) if s is None or not s.strip()])
    inner_space = [i for i, s in enumerate(smiles) if s is not None and any(ch.isspace() for ch in s.strip())]
    add("SMILES with whitespace inside (RDKit would read only the part before it)", inner_space)
    add("invalid SMILES (RDKit cannot parse them)", [i for i in _unparsable(smiles) if i not in set(inner_space)])
    add("rows without a mol_id", [i for i, m in enumerate(ids) if m is None or not m.strip()])
    seen: dict[str, int] = {}
    repeated = []
    for i, m in enumerate(ids):
        if m is None:
            continue
        if m in seen:
            repeated.append(i)
        seen.setdefault(m, i)
    add("repeated mol_ids", repeated)
    labels = df["label"].to_list()
    add("non-finite labels (NaN or inf)", [i for i, v in enumerate(labels) if v is not None and not math.isfinite(v)])
    if labels_required:
        add("rows without a label", [i for i, v in enumerate(labels) if v is None])
    if splits is not None and "split" in df.columns:
        values = df["split"].cast(pl.String).to_list()
        unknown = [i for i, v in enumerate(values) if v not in splits]
        if unknown:
            names = sorted({str(values[i]) for i in unknown})
            add(f"rows with a split other than {', '.join(splits)} ({', '.join(names[:5])})", unknown)
    return problems


def validate_table(df: pl.DataFrame, what: str, *, labels_required: bool = False,
                   splits: Sequence[str] | None = SPLIT_VALUES) -> pl.DataFrame:
    """The table with `label` as float64 (non-numeric labels refused), or TableError naming every problem."""
    from molpeft_cli.data.tables import require_columns

    require_columns(df, list(REQUIRED), what)
    if df.height == 0:
        raise TableError(f"{what} has no rows")
    if df["label"].dtype != pl.Float64:
        cast = df["label"].cast(pl.Float64, strict=False)
        bad = _positions(cast.is_null() & df["label"].is_not_null())
        if bad:
            ids = df["mol_id"].cast(pl.String).to_list()
            raise TableError(f"{what}: " + describe([Problem("non-numeric labels", bad, [ids[i] for i in bad])]))
        df = df.with_columns(cast.alias("label"))
    problems = table_problems(df, labels_required=labels_required, splits=splits)
    if problems:
        raise TableError(f"{what}: {describe(problems)}")
    return df
