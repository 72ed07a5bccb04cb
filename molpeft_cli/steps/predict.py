"""The `predict` step: predictions for SMILES (given, or read from a SMILES file or table)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class PredictConfig:
    command: ClassVar[str] = "predict"

    checkpoint: str = argument(help="Fine-tuned checkpoint directory.", metavar="CKPT")
    smiles: list[str] | None = argument(None, "SMILES; '-' reads stdin.", metavar="[SMILES]...")
    input: str | None = option(None, "File of SMILES: one per line, or a CSV/parquet with a SMILES column.",
                               flags=("--input", "-i"))
    output: str | None = option(None, "Write a table here instead of CSV on stdout.", flags=("--output", "-o"))
    strict: bool = option(False, "Fail on the first invalid SMILES.")
    truncate: bool = option(False, "Cut over-long molecules instead of reporting them.")
    config: str | None = config_option()


@dataclass
class PredictResult:
    table: Any  # polars.DataFrame: smiles, smiles_canonical, prediction, error, truncated (one row per SMILES)
    failed: list[dict] = field(default_factory=list)  # the rows with an error


def predict(config: PredictConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> PredictResult:
    """Predict the property for each SMILES; invalid ones get a per-row error and never stop the rest (unless
    `strict`). The table is written to `output` when one is given."""
    import polars as pl

    from molpeft_cli.data.smiles_files import read_smiles
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import InputError, SettingError
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.prediction import predict_smiles_rows

    c = config
    check_step_outputs(c, {"output": False}, ("input", "checkpoint", "config"))
    texts = list(c.smiles or [])
    if c.input:
        texts.extend(read_smiles(c.input))
    if not texts:
        raise InputError("no SMILES given: pass them as arguments, with an input file, or '-' for stdin")
    runtime.apply_threads()
    ft = load_finetuned(c.checkpoint, runtime.device)
    rows = predict_smiles_rows(ft, texts, truncate=c.truncate)
    failed = [r for r in rows if r["error"]]
    if failed and c.strict:
        raise SettingError("strict", f"{{setting}}: {failed[0]['smiles']!r}: {failed[0]['error']}")
    for r in failed:
        log.warning(f"{r['smiles']!r}: {r['error']}")
    table = pl.DataFrame(rows, schema={"smiles": pl.String, "smiles_canonical": pl.String,
                                       "prediction": pl.Float64, "error": pl.String, "truncated": pl.Boolean})
    if c.output:
        write_table(table, c.output)
    return PredictResult(table, failed)
