"""`mcdropout`: predictive uncertainty from Monte Carlo dropout; the most uncertain pool molecules first.

Only Dropout modules are switched to train mode (batch norm and the rest stay in eval), `passes` stochastic
forward passes run per pool batch with several passes stacked along the batch dimension, and score = the
checkpoint task's uncertainty (selection/uncertainty.py): regression, the standard deviation of the predictions
over passes; classification, BALD by default (or the predictive entropy, or the std) of the per-pass
probabilities, named in an `uncertainty` column. `prediction_mean` keeps the mean prediction (classification:
the mean probability of the positive class). Before it is used, the uncertainty is checked on the split's valid
rows with the same passes and seed (`mcdropout_validation`: the manifest's `validation_uncertainty`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.selection.base import (
    SelectionConfig,
    SelectionContext,
    SelectionInputs,
    choose_top,
    selection_frame,
)
from molpeft_cli.selection.mc_dropout import dropout_only_train_mode, mc_dropout_predictions, mc_dropout_summaries
from molpeft_cli.selection.uncertainty import AUTO, MEASURES, check_uncertainty, resolve_uncertainty
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "McDropoutConfig",
    "dropout_only_train_mode",
    "length_sorted",
    "mc_dropout_predictions",
    "mcdropout_context",
    "mcdropout_validation",
    "select_mcdropout",
]

log = logging.getLogger(__name__)

NAME = "mcdropout"


@dataclass
class McDropoutConfig(SelectionConfig):
    passes: int = field(default=100, metadata={"help": "stochastic forward passes per molecule"})
    seed: int = field(default=0, metadata={"help": "seed of the dropout masks"})
    forward_rows: int = field(
        default=512, metadata={"help": "rows per forward pass when passes are stacked (pool rows x passes)"}
    )
    uncertainty: str = field(
        default=AUTO, metadata={"help": "auto (std for regression, bald for classification), std, bald, entropy"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.passes < 2:
            raise MolpeftError(f"passes must be >= 2 to measure a spread, got {self.passes}")
        if self.forward_rows < 1:
            raise MolpeftError(f"forward_rows must be >= 1, got {self.forward_rows}")
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(f"mcdropout threshold is an uncertainty (>= 0), got {self.threshold}")
        check_uncertainty(self.uncertainty)

    def to_dict(self) -> dict:
        """The settings as the manifest records them; `uncertainty` only when it is not auto (regression
        selections record what they did before the setting existed)."""
        settings = super().to_dict()
        if settings["uncertainty"] == AUTO:
            del settings["uncertainty"]
        return settings

    def for_task(self, task: str | None) -> McDropoutConfig:
        """This config with `uncertainty` resolved for a checkpoint of `task` (auto kept for regression)."""
        if task is None or (task == REGRESSION and self.uncertainty == AUTO):
            return self
        return replace(self, uncertainty=resolve_uncertainty(self.uncertainty, task))


def select_mcdropout(pool: pl.DataFrame, config: McDropoutConfig, context: SelectionContext) -> pl.DataFrame:
    if context.model is None or context.predict is None or context.batches is None:
        raise MolpeftError("strategy 'mcdropout' needs a model, a predict function and pool batches")
    task = context.task or REGRESSION
    measure = resolve_uncertainty(config.uncertainty, task)
    mean, score = mc_dropout_scores(context, config, context.batches)
    if len(score) != pool.height:
        raise MolpeftError(f"MC dropout gave {len(score)} predictions for {pool.height} pool rows")
    order = choose_top(pool, score, config)
    chosen = selection_frame(pool, order, score, NAME, extra={"prediction_mean": mean})
    if task == CLASSIFICATION:
        import polars as pl

        chosen = chosen.with_columns(pl.lit(measure, dtype=pl.String).alias("uncertainty"))
    return chosen


def _probability_summary(probabilities, measure: str) -> tuple:
    """(mean probability, the measure) of (passes, rows) probabilities of the positive class."""
    if bool(((probabilities < 0) | (probabilities > 1)).any()):
        raise MolpeftError("classification MC dropout needs probabilities in [0, 1] from predict "
                           "(sigmoid of the logit)")
    return probabilities.mean(0), MEASURES[measure](probabilities)


def length_sorted(pool: pl.DataFrame) -> pl.DataFrame:
    """Pool rows ordered by SMILES length (then mol_id): a deterministic order that batches with little padding."""
    import polars as pl

    return pool.with_columns(pl.col("smiles_canonical").str.len_chars().alias("_len")).sort(
        ["_len", "mol_id"]).drop("_len")


def _length_sorted_batches(ft, table: pl.DataFrame, truncate: bool, batch_size: int) -> list[dict]:
    """Batch dicts of consecutive rows of `table` (already in the order the outputs must come in)."""
    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.regression import encode

    enc = encode(ft.tokenizer, table["smiles_canonical"].to_list(), truncate, ids=table["mol_id"].to_list())
    return [batch.model_inputs() for batch in
            iter_batches(enc.input_ids, batch_size, ft.tokenizer.pad_token_id, shuffle=False, in_order=True,
                         features=ft.featurize(table["smiles_canonical"].to_list()))]


def mcdropout_context(inputs: SelectionInputs, batch_size: int = 64) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool sorted by length, and the loaded checkpoint's model, its task, a predict function (regression: in
    original label units; classification: the probability sigmoid(logit)) and the pool's batches in that order
    (consecutive rows, so they carry little padding)."""
    import torch

    ft = inputs.require("model", NAME)
    pool = length_sorted(inputs.pool)
    batches = _length_sorted_batches(ft, pool, inputs.truncate, batch_size)  # pool order, as select_mcdropout needs
    mean, std = ft.label_mean, ft.label_std
    device = next(ft.model.parameters()).device
    bf16 = inputs.bf16

    def predict(model, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
        return out.logits.squeeze(-1).float().cpu() * std + mean

    def predict_probability(model, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
        return torch.sigmoid(out.logits.squeeze(-1).float()).cpu()

    task = ft.task
    return pool, SelectionContext(model=ft.model, predict=predict_probability if task == CLASSIFICATION else predict,
                                  batches=batches, task=task)


def mc_dropout_scores(context: SelectionContext, config: McDropoutConfig, batches) -> tuple:
    """(mean, uncertainty) over the dropout passes of `config` for the rows of `batches` (the selection's own
    computation: regression, mean and std; classification, mean probability and the resolved measure)."""
    task = context.task or REGRESSION
    if task == REGRESSION:  # the regression path exactly as before the classification measures existed
        return mc_dropout_predictions(context.model, context.predict, batches, config.passes, config.seed,
                                      config.forward_rows)
    measure = resolve_uncertainty(config.uncertainty, task)
    return mc_dropout_summaries(context.model, context.predict, batches,
                                lambda samples: _probability_summary(samples, measure), config.passes, config.seed,
                                config.forward_rows)


def mcdropout_validation(inputs: SelectionInputs, config: McDropoutConfig, context: SelectionContext) -> dict:
    """How informative the uncertainty is on the validation split (`inputs.valid`'s labelled `valid` rows), with the
    selection's passes and seed: {"validation_uncertainty": selection.validation_uncertainty's record}, logged in
    one line; nothing without a split table."""
    import polars as pl

    from molpeft_cli.selection.validation_uncertainty import KEY, describe, uncertainty_check

    if inputs.valid is None:
        log.info("mcdropout: no split table given, so the uncertainty is not checked on validation molecules")
        return {}
    if "split" not in inputs.valid.columns:
        raise SettingError("valid", "{setting} needs a split table (with a `split` column)")
    rows = length_sorted(inputs.valid.filter((pl.col("split") == "valid") & pl.col("label").is_not_null()))
    if rows.height == 0:
        log.info("mcdropout: the split table has no labelled valid rows to check the uncertainty on")
        return {}
    batches = _length_sorted_batches(inputs.model, rows, inputs.truncate, 64)
    mean, uncertainty = mc_dropout_scores(context, config, batches)
    task = context.task or REGRESSION
    record = uncertainty_check(task, mean, uncertainty, rows["label"].cast(pl.Float64).to_numpy(),
                               resolve_uncertainty(config.uncertainty, task))
    log.info(f"mcdropout: uncertainty on {describe(record)}")
    return {KEY: record}
