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
        if exc.setting not in ("smiles_col", "label_col"):
            raise
        what, names = ("SMILES", SMILES_NAMES) if exc.setting == "smiles_col" else ("label", LABEL_NAMES)
        raise InputError(f"no {what} column found in {role} {source} (looked for {', '.join(names)}; it has "
                         f"{', '.join(table.columns)}); rename the column, or make a molecule table with the data "
                         "step, which can name it") from None
    log_build(result, role)
    if result.molecules.height == 0:
        raise InputError(f"no usable molecules in {role} {source}: all {result.rejects.height} rows rejected")
    return result.molecules


def log_build(result, role: str) -> None:
    """Log how many rows a standardisation kept and why the others were rejected."""
    n_rej = result.rejects.height
    log.info(f"{role}: {result.molecules.height} molecules kept, {n_rej} rejected "
             f"(columns: smiles={result.columns['smiles']}, label={result.columns['label']}, "
             f"id={result.columns['id']})")
    if n_rej:
        reasons = Counter(r.split(" (")[0].split(" '")[0] for r in result.rejects["reason"].to_list())
        log.warning(f"{n_rej} rows rejected: " + "; ".join(f"{n} {why}" for why, n in reasons.most_common()))
    dup = result.duplicates
    if dup.groups:
        log.warning(f"{dup.groups} compounds occur more than once ({dup.rows} rows, largest label spread "
                    f"{dup.max_label_spread:.3g})")
