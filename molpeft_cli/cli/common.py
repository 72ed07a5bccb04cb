"""Shared plumbing for the subcommands: loading molecule tables and recording manifests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from molpeft_cli.console import info, warn
from molpeft_cli.data.manifest import build_manifest, now, write_manifest


class Recorder:
    """Remembers when a command started and writes the manifest beside (or inside) its outputs."""

    def __init__(self, command: str, params: dict[str, Any], seed: int | None, inputs: dict[str, Any]):
        self.command = command
        self.params = params
        self.seed = seed
        self.inputs = inputs
        self.started = now()

    def write(self, output: str | Path, extra: dict[str, Any] | None = None, directory: bool = False) -> None:
        manifest = build_manifest(self.command, self.params, self.seed, self.inputs, self.started, extra)
        write_manifest(output, manifest, outputs_dir=directory)


def load_molecules(source: str, role: str, unlabeled: bool = False):
    """A molecule table as the contract defines it; raw CSV/parquet is standardised on the way in."""
    from molpeft_cli.data.molecules import build_molecule_table, is_molecule_table, validate_molecule_table
    from molpeft_cli.data.tables import read_table

    table = read_table(source)
    if is_molecule_table(table):
        return validate_molecule_table(table, what=f"{role} table {source}")
    name = "stdin" if source == "-" else Path(source).stem
    result = build_molecule_table(table, source=name, unlabeled=unlabeled)
    report_build(result, role)
    if result.molecules.height == 0:
        from molpeft_cli.errors import MolpeftError

        raise MolpeftError(f"no usable molecules in {role} {source}: all {result.rejects.height} rows rejected")
    return result.molecules


def report_build(result, role: str) -> None:
    n_rej = result.rejects.height
    info(f"{role}: {result.molecules.height} molecules kept, {n_rej} rejected "
         f"(columns: smiles={result.columns['smiles']}, label={result.columns['label']}, id={result.columns['id']})")
    if n_rej:
        reasons = Counter(r.split(" (")[0].split(" '")[0] for r in result.rejects["reason"].to_list())
        warn(f"{n_rej} rows rejected: " + "; ".join(f"{n} {why}" for why, n in reasons.most_common()))
    dup = result.duplicates
    if dup.groups:
        warn(f"{dup.groups} compounds occur more than once ({dup.rows} rows, largest label spread "
             f"{dup.max_label_spread:.3g})")
