"""The `finetune` step: stage-2 supervised fine-tuning with full, BitFit, LoRA or (IA)3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.training.options import FinetuneOptions

DEFAULT_MODEL = "molformer-mini"


@dataclass
class FinetuneConfig:
    command: ClassVar[str] = "finetune"

    split_table: str = argument(help="Split table (from `molpeft split`).", metavar="SPLIT")
    output: str = option(help="Checkpoint directory to write.", flags=("--output", "-o"))
    overwrite: bool = option(False, "Replace an existing folder at --output that is not a `molpeft finetune` "
                             "output (it is renamed aside, and removed once the new output is written).")
    model: str = option(DEFAULT_MODEL, "Bundled name, checkpoint directory, or hub id.")
    extra: list[str] = option(default_factory=list, help="Selection table(s) whose molecules join training.")
    config: str | None = config_option()
    recipe: FinetuneOptions = option(default_factory=FinetuneOptions, nested=True,
                                     help="The training recipe: method, optimiser, dropouts, LoRA, clipping.")
    drop_leaking: bool = option(False, "Drop --extra molecules that are valid/test compounds (with a warning) "
                                "instead of failing.")
    seed: int | None = option(None, "Training seed (default: the global --seed).")


@dataclass
class FinetuneOutcome:
    checkpoint: Path  # the checkpoint directory written
    meta: dict[str, Any]  # what finetune.json records: method, counts, best epoch and valid MSE, selection, ...
    log: Any  # polars.DataFrame, one row per epoch: train_loss, valid_mse, valid_mae, seconds


def finetune(config: FinetuneConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> FinetuneOutcome:
    """Fine-tune the regression model on the train split (plus `extra` tables); early stopping on valid. Returns a
    `FinetuneOutcome` (checkpoint directory, its meta, the training log); `on_epoch` sees each epoch's row."""
    from molpeft_cli.training.finetune_job import run_finetune

    c = config
    check_step_outputs(c, {"output": True}, ("split_table", "extra", "model", "config"))
    return run_finetune(c.split_table, c.output, c.recipe, c.model, list(c.extra), c.seed, c.drop_leaking,
                        config_file=c.config, runtime=runtime, argv=argv, on_epoch=on_epoch)
