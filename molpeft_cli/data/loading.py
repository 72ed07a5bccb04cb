"""Reading molecule tables for a step: a table that already follows the contract is validated, a raw CSV/parquet
is standardised on the way in (with its rejects and duplicates logged); and reading plain SMILES files."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from molpeft_cli.errors import InputError, SettingError

log = logging.getLogger(__name__)


def load_molecules(source: str | Path, role: str, unlabeled: bool = False):
    """A molecule table as the contract defines it, checked row by row (`data.validate`; every row labelled unless
    `unlabeled`); raw CSV/parquet is standardised on the way in (unusable rows reported and skipped)."""
    from molpeft_cli.data.molecules import (
        LABEL_NAMES,
        SMILES_NAMES,
        build_molecule_table,
        is_molecule_table,
        validate_molecule_table,
    )
    from molpeft_cli.data.tables import read_table

    source = str(source)
    table = read_table(source)
    if is_molecule_table(table):
        return validate_molecule_table(table, what=f"{role} table {source}", labels_required=not unlabeled)
    name = "stdin" if source == "-" else Path(source).stem
    try:
        result = build_molecule_table(table, source=name, unlabeled=unlabeled)
    except SettingError as exc:  # these steps cannot name columns: say how to, without their flags
        if exc.setting in ("task", "positive_class"):
            raise InputError(f"the labels of {role} {source} need a decision: {exc.render()}; make a molecule "
                             "table with the data step, which takes the task and the positive class") from None
        if exc.setting not in ("smiles_col", "label_col"):
            raise
        what, names = ("SMILES", SMILES_NAMES) if exc.setting == "smiles_col" else ("label", LABEL_NAMES)
        raise InputError(f"no {what} column found in {role} {source} (looked for {', '.join(names)}; it has "
                         f"{', '.join(table.columns)}); rename the column, or make a molecule table with the data "
                         "step, which can name it") from None
    log_build(result, role, hints=False)
    if result.molecules.height == 0:
        raise InputError(f"no usable molecules in {role} {source}: all {result.rejects.height} rows rejected")
    return result.molecules


def log_build(result, role: str, hints: bool = True) -> None:
    """Log how many rows a standardisation kept and why the others were rejected, the id column and the task;
    `hints`: say which settings would decide otherwise (the data step's; other steps cannot name columns)."""
    from molpeft_cli.data.molecules import ID_NAMES

    n_rej = result.rejects.height
    log.info(f"{role}: {result.molecules.height} molecules kept, {n_rej} rejected "
             f"(columns: smiles={result.columns['smiles']}, label={result.columns['label']}, "
             f"id={result.columns['id']})")
    if result.detected_id:
        _info(f"mol_id from the column {result.columns['id']!r} (found by its name", "; give {setting} to use "
              "another", ")", "id_col", hints)
    elif result.columns["id"] is None:
        _info(f"no id column found (looked for {', '.join(ID_NAMES[:9])}, ...): each molecule's mol_id is its "
              "InChIKey", "; give {setting} to name one", "", "id_col", hints)
    if result.columns["label"] is not None and result.molecules["label"].null_count() < result.molecules.height:
        log_task(result.labels, result.molecules["label"], result.columns["label"], hints)
    if n_rej:
        reasons = Counter(r.split(" (")[0].split(" '")[0] for r in result.rejects["reason"].to_list())
        log.warning(f"{n_rej} rows rejected: " + "; ".join(f"{n} {why}" for why, n in reasons.most_common()))
    dup = result.duplicates
    if dup.groups:
        log.warning(f"{dup.groups} compounds occur more than once ({dup.rows} rows, largest label spread "
                    f"{dup.max_label_spread:.3g})")
        if dup.conflicting:
            log.warning(SettingError("dedupe", f"{dup.conflicting} of them have copies in both classes: the "
                                     "majority class is kept (a tie: the first copy's); {setting} first keeps "
                                     "the first copy, {setting} error refuses"))


def class_counts(labels) -> dict[str, int]:
    """Positive and negative molecules of a classification table's labels (nulls not counted)."""
    values = [v for v in labels.to_list() if v is not None]
    positive = sum(1 for v in values if v == 1.0)
    return {"positive": positive, "negative": len(values) - positive}


def _info(text: str, hint: str, end: str, setting: str, hints: bool) -> None:
    log.info(SettingError(setting, text + hint + end) if hints and hint else text + end)


def log_task(rule, labels, column: str, hints: bool = True) -> None:
    """State the task decided on a label column, and for classification the positive class and its count."""
    from molpeft_cli.tasks import CLASSIFICATION

    if rule.task == CLASSIFICATION:
        counts = class_counts(labels)
        n = counts["positive"] + counts["negative"]
        values = 2 if rule.negative is not None else 1
        text = (f"task: classification ({values} label value{'s' if values > 1 else ''} in {column!r}; positive "
                f"class {rule.positive!r}: {counts['positive']} of {n}; {rule.reason})")
    else:
        text = f"task: regression ({column!r}: {rule.reason})"
    _info(text, f"; {rule.hint}" if rule.hint else "", "", rule.hint_setting, hints)
