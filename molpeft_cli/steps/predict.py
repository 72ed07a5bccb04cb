"""The `predict` step: predictions for SMILES (given, or read from a SMILES file or table): values in label units,
or for a classification checkpoint probabilities of the positive class (`probability`, and `prediction` the same).
A table given as input keeps its other columns (ids, names) beside the predictions."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, check_not_empty, config_option, option
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

    def __post_init__(self) -> None:
        check_not_empty(self, ("config", "checkpoint", "input", "output"))


@dataclass
class PredictResult:
    # polars.DataFrame, one row per SMILES: the input table's other columns (with --input TABLE), smiles,
    # smiles_canonical, prediction, probability (classification only), error, truncated
    table: Any
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
    carried = None
    if c.input:
        from_file = read_smiles(c.input)
        carried = input_columns(c.input)
        if carried is not None and texts:  # SMILES given as arguments come first and have none of the columns
            carried = pl.concat([carried.clear(len(texts)), carried])
        texts.extend(from_file)
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
    probability = {"probability": pl.Float64} if ft.task == "classification" else {}
    table = pl.DataFrame(rows, schema={"smiles": pl.String, "smiles_canonical": pl.String, "prediction": pl.Float64,
                                       **probability, "error": pl.String, "truncated": pl.Boolean})
    if carried is not None and carried.width:
        carried = carried.rename({name: f"{name}_input" for name in carried.columns if name in table.columns})
        table = pl.concat([carried, table], how="horizontal")
    if c.output:
        write_table(table, c.output)
    return PredictResult(table, failed)


def input_columns(path: str):
    """The columns of an input table other than its SMILES column (polars.DataFrame, in file order), to keep
    beside the predictions; None for a plain SMILES file."""
    from pathlib import Path

    from molpeft_cli.data.molecules import SMILES_NAMES, detect_column
    from molpeft_cli.data.smiles_files import is_plain_smiles_file
    from molpeft_cli.data.tables import read_table

    if is_plain_smiles_file(Path(path)):
        return None
    table = read_table(path)
    return table.drop(detect_column(table, None, SMILES_NAMES, "SMILES"))
