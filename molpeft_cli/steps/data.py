"""The `data` step: a bundled dataset, a file or a URL -> the molecule table (+ rejects)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.choices import DEDUPE_MODES
from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    command: ClassVar[str] = "data"

    source: str = argument(help="Bundled name (lipophilicity), a CSV/parquet path, or an http(s) URL.",
                           metavar="SOURCE")
    output: str = option(help="Molecule table (parquet; '-' for stdout).", flags=("--output", "-o"))
    smiles_col: str | None = option(None, "SMILES column (default: detected).")
    label_col: str | None = option(None, "Label column (default: detected).")
    id_col: str | None = option(None, "Identifier column (default: detected, else InChIKey).")
    unlabeled: bool = option(False, "Allow a table without labels (an unlabeled pool).")
    rejects: str | None = option(None, "Write rejected rows with reasons here.")
    strict: bool = option(False, "Fail if any row is rejected.")
    dedupe: str = option("mean", f"Duplicate compounds: {'|'.join(DEDUPE_MODES)}.")
    sha256: str | None = option(None, "Expected sha256 of the source file or download.")
    refresh: bool = option(False, "Download again (bundled names: MoleculeNet's canonical CSV).")
    sample: int | None = option(None, "Keep a seeded random sample of this many molecules (after rejects and "
                                "dedupe).", min=1)
    seed: int | None = option(None, "Seed for --sample (default: the global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        if self.dedupe not in DEDUPE_MODES:
            raise SettingError("dedupe", f"unknown {{setting}} {self.dedupe!r}; choose one of "
                               f"{', '.join(DEDUPE_MODES)}")
        if self.sample is not None and self.sample < 1:
            raise SettingError("sample", "{setting} must be at least 1")


@dataclass
class DataResult:
    molecules: Any  # polars.DataFrame: the molecule table written to `output`
    rejects: Any  # polars.DataFrame: rejected rows with reasons
    output: str
    columns: dict[str, str | None]


def load_data(config: DataConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> DataResult:
    """Read a dataset, standardise every molecule with RDKit, and write the molecule table."""
    from molpeft_cli.data.loading import log_build
    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table, write_table
    from molpeft_cli.errors import InputError

    c = config
    check_step_outputs(c, {"output": False, "rejects": False}, ("source", "config"))
    resolved = resolve_source(c.source, refresh=c.refresh, sha256=c.sha256)
    seed = runtime.seed_for(c.seed)
    recorder = Recorder("data", dict(source=c.source, smiles_col=c.smiles_col, label_col=c.label_col,
                                     id_col=c.id_col, unlabeled=c.unlabeled, strict=c.strict, dedupe=c.dedupe,
                                     refresh=c.refresh, sample=c.sample),
                        seed if c.sample else None, {"source": resolved.path, "config": c.config}, argv, config=c)
    raw = read_table(resolved.path)
    result = build_molecule_table(raw, source=resolved.name, smiles_col=c.smiles_col, label_col=c.label_col,
                                  id_col=c.id_col, unlabeled=c.unlabeled, dedupe=c.dedupe)
    log_build(result, resolved.name)
    if c.rejects:
        write_table(result.rejects, c.rejects)
    if c.strict and result.rejects.height:
        first = result.rejects.row(0, named=True)
        raise SettingError("strict", f"{{setting}}: {result.rejects.height} rows rejected, first: row "
                           f"{first['row']} ({first['reason']})")
    if result.molecules.height == 0:
        raise InputError(f"no usable molecules in {c.source}: all {result.rejects.height} rows were rejected")
    molecules = result.molecules
    if c.sample is not None and c.sample < molecules.height:
        molecules = molecules.sample(n=c.sample, seed=seed, shuffle=False)
        log.info(f"kept a random sample of {c.sample} molecules (seed {seed})")
    write_table(molecules, c.output)
    recorder.write(c.output, extra={"source": {"origin": resolved.origin, "sha256": resolved.sha256},
                                    "counts": {"molecules": molecules.height, "rejects": result.rejects.height,
                                               "duplicate_groups": result.duplicates.groups},
                                    "columns": result.columns})
    if c.output != "-":
        log.info(f"wrote {molecules.height} molecules to {c.output}")
    return DataResult(molecules, result.rejects, c.output, result.columns)
