"""`mcdropout`: predictive uncertainty from Monte Carlo dropout; the most uncertain pool molecules first.

Only Dropout modules are switched to train mode (batch norm and the rest stay in eval), `passes` stochastic
forward passes run per pool batch with several passes stacked along the batch dimension, and
score = the standard deviation of the predictions over passes (`prediction_mean` keeps their mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import (
    SelectionConfig,
    SelectionContext,
    SelectionInputs,
    choose_top,
    selection_frame,
)
from molpeft_cli.selection.mc_dropout import dropout_only_train_mode, mc_dropout_predictions

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "McDropoutConfig",
    "dropout_only_train_mode",
    "length_sorted",
    "mc_dropout_predictions",
    "mcdropout_context",
    "select_mcdropout",
]

NAME = "mcdropout"


@dataclass
class McDropoutConfig(SelectionConfig):
    passes: int = field(default=100, metadata={"help": "stochastic forward passes per molecule"})
    seed: int = field(default=0, metadata={"help": "seed of the dropout masks"})
    forward_rows: int = field(
        default=512, metadata={"help": "rows per forward pass when passes are stacked (pool rows x passes)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.passes < 2:
            raise MolpeftError(f"passes must be >= 2 to measure a spread, got {self.passes}")
        if self.forward_rows < 1:
            raise MolpeftError(f"forward_rows must be >= 1, got {self.forward_rows}")
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(f"mcdropout threshold is a standard deviation (>= 0), got {self.threshold}")


def select_mcdropout(pool: pl.DataFrame, config: McDropoutConfig, context: SelectionContext) -> pl.DataFrame:
    if context.model is None or context.predict is None or context.batches is None:
        raise MolpeftError("strategy 'mcdropout' needs a model, a predict function and pool batches")
    mean, std = mc_dropout_predictions(
        context.model, context.predict, context.batches, config.passes, config.seed, config.forward_rows
    )
    if len(std) != pool.height:
        raise MolpeftError(f"MC dropout gave {len(std)} predictions for {pool.height} pool rows")
    order = choose_top(pool, std, config)
    return selection_frame(pool, order, std, NAME, extra={"prediction_mean": mean})


def length_sorted(pool: pl.DataFrame) -> pl.DataFrame:
    """Pool rows ordered by SMILES length (then mol_id): a deterministic order that batches with little padding."""
    import polars as pl

    return pool.with_columns(pl.col("smiles_canonical").str.len_chars().alias("_len")).sort(
        ["_len", "mol_id"]).drop("_len")


def mcdropout_context(inputs: SelectionInputs, batch_size: int = 64) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool sorted by length, and the loaded checkpoint's model, a predict function in original label units
    and the pool's batches in that order (consecutive rows, so they carry little padding)."""
    import torch

    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.regression import encode

    ft = inputs.require("model", NAME)
    pool = length_sorted(inputs.pool)
    enc = encode(ft.tokenizer, pool["smiles_canonical"].to_list(), inputs.truncate, ids=pool["mol_id"].to_list())
    batches = [batch.model_inputs() for batch in  # pool order, as select_mcdropout requires
               iter_batches(enc.input_ids, batch_size, ft.tokenizer.pad_token_id, shuffle=False, in_order=True,
                            features=ft.featurize(pool["smiles_canonical"].to_list()))]
    mean, std = ft.label_mean, ft.label_std
    device = next(ft.model.parameters()).device
    bf16 = inputs.bf16

    def predict(model, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
        return out.logits.squeeze(-1).float().cpu() * std + mean

    return pool, SelectionContext(model=ft.model, predict=predict, batches=batches)
