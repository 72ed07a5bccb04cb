"""The `data` step: a bundled dataset, a file or a URL -> the molecule table (+ rejects)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.choices import DEDUPE_MODES
from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import CLASSIFICATION, TASK_CHOICES

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
    dedupe: str = option("mean", f"Duplicate compounds: {'|'.join(DEDUPE_MODES)} (classification: mean keeps the "
                         "majority class).")
    task: str = option("auto", f"{'|'.join(TASK_CHOICES)}: auto reads labels 0/1, or two non-numeric values "
                       "(true/false, active/inactive, any two strings), as binary classification.")
    positive_class: str | None = option(None, "Classification: the label value that is the positive class "
                                        "(default: the first of true/false, yes/no, active/inactive, ...; else "
                                        "1, else the value that sorts last).", metavar="VALUE")
    sha256: str | None = option(None, "Expected sha256 of the source file or download.")
    refresh: bool = option(False, "Download again (bundled names: MoleculeNet's canonical CSV).")
    sample: int | None = option(None, "Keep a seeded random sample of this many molecules (after rejects and "
                                "dedupe).", min=1)
    seed: int | None = option(None, "Seed for --sample (default: the global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("source", "output", "rejects", "config"))
        if self.dedupe not in DEDUPE_MODES:
            raise SettingError("dedupe", f"unknown {{setting}} {self.dedupe!r}; choose one of "
                               f"{', '.join(DEDUPE_MODES)}")
        if self.sample is not None and self.sample < 1:
            raise SettingError("sample", "{setting} must be at least 1")
        if self.task not in TASK_CHOICES:
            raise SettingError("task", f"unknown {{setting}} {self.task!r}; choose one of {', '.join(TASK_CHOICES)}")
        check_numbers(self, {"sample": (1, True), "seed": (0, True)})
        if self.sha256 is not None and not (len(self.sha256) == 64 and all(ch in "0123456789abcdefABCDEF"
                                                                           for ch in self.sha256)):
            raise SettingError("sha256", f"{{setting}} must be 64 hexadecimal digits, got {self.sha256!r}")
        for name in ("smiles_col", "label_col", "id_col", "positive_class"):
            if getattr(self, name) is not None and not str(getattr(self, name)).strip():
                raise SettingError(name, "{setting} is empty; name a column, or leave it out to detect it"
                                   if name != "positive_class" else "{setting} is empty; name a label value")


@dataclass
class DataResult:
    molecules: Any  # polars.DataFrame: the molecule table written to `output`
    rejects: Any  # polars.DataFrame: rejected rows with reasons
    output: str
    columns: dict[str, str | None]
    task: str = "regression"  # the task the labels were read for
    label_mapping: dict[str, str | None] | None = None  # classification: the positive and negative raw values


def load_data(config: DataConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> DataResult:
    """Read a dataset, standardise every molecule with RDKit, and write the molecule table."""
    from molpeft_cli.data.loading import class_counts, log_build
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
                                     refresh=c.refresh, sample=c.sample) | _task_params(c),
                        seed if c.sample else None, {"source": resolved.path, "config": c.config}, argv, config=c)
    raw = read_table(resolved.path)
    result = build_molecule_table(raw, source=resolved.name, smiles_col=c.smiles_col, label_col=c.label_col,
                                  id_col=c.id_col, unlabeled=c.unlabeled, dedupe=c.dedupe, task=c.task,
                                  positive_class=c.positive_class)
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
    labels = result.labels
    task_record: dict[str, Any] = {"task": labels.task}
    if labels.task == CLASSIFICATION:
        task_record |= {"label_mapping": labels.label_mapping, "class_counts": class_counts(molecules["label"])}
        if molecules.height < result.molecules.height:
            log.info(f"the sample's classes: {task_record['class_counts']}")
    write_table(molecules, c.output)
    recorder.write(c.output, extra={"source": {"origin": resolved.origin, "sha256": resolved.sha256},
                                    "counts": {"molecules": molecules.height, "rejects": result.rejects.height,
                                               "duplicate_groups": result.duplicates.groups},
                                    "columns": result.columns, **task_record})
    if c.output != "-":
        log.info(f"wrote {molecules.height} molecules to {c.output}")
    return DataResult(molecules, result.rejects, c.output, result.columns, labels.task, labels.label_mapping)


def _task_params(c: DataConfig) -> dict[str, Any]:
    """The task settings among the manifest's params only when set, so a regression manifest keeps its params."""
    return ({"task": c.task} if c.task != "auto" else {}) | (
        {"positive_class": c.positive_class} if c.positive_class is not None else {})
