"""The `audit` step: find pool molecules that are the same compound as a train/valid/test molecule."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class AuditConfig:
    command: ClassVar[str] = "audit"

    split_table: str = argument(help="Split table (or any molecule table).", metavar="SPLIT")
    pool: str = argument(help="Pool: molecule table or raw CSV/parquet with SMILES.", metavar="POOL")
    output: str = option(help="Collision table ('-' for stdout).", flags=("--output", "-o"))
    summary: str | None = option(None, "Write the summary counts here as JSON.")
    tolerance: float = option(0.3, "Label difference above which a same-compound pair is reported as a "
                              "conflict.")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("split_table", "pool", "output", "summary", "config"))
        check_numbers(self, {"tolerance": (0, True)})


@dataclass
class AuditResult:
    hits: Any  # polars.DataFrame: one row per colliding (pool, dataset) pair
    counts: Any  # chem.audit.AuditSummary


def audit(config: AuditConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> AuditResult:
    """List pool molecules with the same InChIKey (and the same stereo-free skeleton) as dataset molecules."""
    from molpeft_cli.chem.audit import audit_pool, label_mismatch
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import InputError

    c = config
    check_step_outputs(c, {"output": False, "summary": False}, ("split_table", "pool", "config"))
    recorder = Recorder("audit", dict(tolerance=c.tolerance), None,
                        {"split": c.split_table, "pool": c.pool, "config": c.config}, argv, config=c)
    dataset = load_molecules(c.split_table, "split", unlabeled=True)
    pool_table = load_molecules(c.pool, "pool", unlabeled=True)
    error, shift = label_mismatch(dataset, pool_table)
    if error:
        raise InputError(error)
    hits, counts = audit_pool(dataset, pool_table, tolerance=c.tolerance)
    if counts.label_conflicts:
        log.info(f"{counts.label_conflicts} same-compound pairs disagree on the label by more than {c.tolerance}")
    summary = counts.to_dict() | ({"label_shift": shift} if shift else {})  # the key only when there is a shift
    if shift and "pool_median" in shift:
        log.warning(f"the pool's median label {shift['pool_median']:.3g} lies outside the dataset's 1st-99th "
                    f"percentile ({shift['dataset_p1']:.3g} to {shift['dataset_p99']:.3g}): another property or "
                    "unit? (recorded in the audit summary)")
    elif shift:
        log.warning(f"every labelled pool molecule is of one class ({shift['pool_classes']}): selections can only "
                    "add that class")
    if c.summary:
        write_text_atomic(c.summary, json.dumps(summary, indent=2) + "\n")
    write_table(hits, c.output)
    recorder.write(c.output, extra={"summary": summary})
    return AuditResult(hits, counts)
