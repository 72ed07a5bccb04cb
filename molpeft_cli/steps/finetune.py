"""The `finetune` step: stage-2 supervised fine-tuning with full, BitFit, LoRA or (IA)3, from a split table (plus
selection tables) to a checkpoint directory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import CLASSIFICATION
from molpeft_cli.training.options import FinetuneOptions

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

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

    def __post_init__(self) -> None:
        check_not_empty(self, ("split_table", "output", "config"))
        check_numbers(self, {"seed": (0, True)})
        if any(not str(path).strip() for path in self.extra):
            raise SettingError("extra", "{setting} is empty; give a selection table")
        if not str(self.model).strip():
            raise SettingError("model", "{setting} is empty; give a bundled name, a checkpoint directory or a hub id")


@dataclass
class FinetuneResult:
    checkpoint: Path  # the checkpoint directory written
    meta: dict[str, Any]  # what finetune.json records: method, counts, best epoch and valid score, selection, ...
    log: Any  # polars.DataFrame, one row per epoch: train_loss, valid_mse, valid_mae (classification:
    # valid_log_loss, valid_roc_auc), lr, seconds




def finetune(config: FinetuneConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> FinetuneResult:
    """Fine-tune the model on the train split (plus `extra` tables) for the recipe's task (regression or binary
    classification; auto: decided on the training labels); early stopping on valid. Returns a
    `FinetuneResult` (checkpoint directory, its meta, the training log); `on_epoch` sees each epoch's row."""
    c = config
    check_step_outputs(c, {"output": True}, ("split_table", "extra", "model", "config"))
    return run_finetune(c.split_table, c.output, c.recipe, c.model, list(c.extra), c.seed, c.drop_leaking,
                        config_file=c.config, runtime=runtime, argv=argv, on_epoch=on_epoch, config=c)


def gather_training_data(split: pl.DataFrame, extras: list[pl.DataFrame], drop_leaking: bool) -> pl.DataFrame:
    """The train split plus extra molecules; an extra that is a valid/test compound is refused (or dropped)."""
    import polars as pl

    from molpeft_cli.chem.audit import leaking_ids

    if "split" not in split.columns:
        raise MolpeftError("the input has no `split` column; run `molpeft split` first")
    train = split.filter(pl.col("split") == "train")
    parts = [train.select("mol_id", "smiles_canonical", "inchikey", "label")]
    for i, extra in enumerate(extras):
        leaking, _ = leaking_ids(split, extra, ("valid", "test"))
        if leaking:
            listed = ", ".join(leaking[:5])
            if not drop_leaking:
                raise SettingError("extra", f"{{setting}} table {i + 1} has {len(leaking)} molecules that are "
                                   f"valid/test compounds ({listed}); select with the select step (it excludes "
                                   "them) or set {drop_leaking}")
            log.warning(SettingError("extra", f"dropping {len(leaking)} {{setting}} molecules that are valid/test "
                                     f"compounds: {listed}"))
            extra = extra.filter(~pl.col("mol_id").is_in(leaking))
        parts.append(extra.select("mol_id", "smiles_canonical", "inchikey", "label"))
    data = pl.concat(parts, how="vertical_relaxed")
    dup = data.filter(pl.col("inchikey").is_duplicated())
    if dup.height:
        log.warning(f"{dup['inchikey'].n_unique()} compounds occur in more than one training source; each copy trains")
    return data


def extras_label(extras: list[pl.DataFrame]) -> str:
    """What joined training, as finetune.json's `selection`: the extra tables' strategies joined by '+' ('extra'
    for a table without a `strategy` column), or 'none'."""
    import polars as pl

    names = []
    for extra in extras:
        if "strategy" in extra.columns and extra.height:
            names.extend(sorted(set(extra["strategy"].cast(pl.String).to_list())))
        else:
            names.append("extra")
    return "+".join(names) if names else "none"


SCORE_NAMES = {"mse": "MSE", "log_loss": "log loss", "roc_auc": "ROC-AUC"}


def resolve_training_task(requested: str, split_labels: list, labels, has_extras: bool) -> str:
    """The task of the training molecules (train split plus extras); extras whose labels are not 0/1 beside a
    0/1 train split are refused, as they would silently turn a classification set into regression."""
    from molpeft_cli.tasks import is_binary, resolve_task

    if has_extras and is_binary(split_labels) and not is_binary(labels):
        raise SettingError("extra", "the train split's labels are 0/1 (classification) but the {setting} "
                           "molecules' are not: a pool of another task or unit")
    return resolve_task(requested, labels, setting="task")


def describe_task(task: str, labels, pos_weight: float | None) -> str:
    """The log line stating the task decision."""
    if task != CLASSIFICATION:
        return f"task: {task}"
    counts = class_counts(labels)
    return (f"task: classification (labels 0/1; {counts['positive']} positive of {len(labels)} training "
            f"molecules; positive weight {pos_weight:.3g})")


def class_counts(labels) -> dict[str, int]:
    positives = int(sum(1 for v in labels if v == 1.0))
    return {"positive": positives, "negative": int(len(labels)) - positives}


def check_base_task(model_ref: str, task: str) -> None:
    """A fine-tuned checkpoint given as the base model must be of the same task."""
    import json

    meta_path = Path(model_ref) / "finetune.json"
    if not meta_path.is_file():
        return
    try:
        other = str(json.loads(meta_path.read_text()).get("task", "regression"))
    except (OSError, ValueError, AttributeError):
        return  # loading the model reports a damaged checkpoint
    if other != task:
        raise SettingError("model", f"{{setting}} {model_ref} is a fine-tuned {other} checkpoint, but these "
                           f"training labels make this a {task} run; start from a base model or a {task} "
                           "checkpoint")


def run_finetune(split_path: str, output: str, options: FinetuneOptions, model_ref: str, extra_paths: list[str],
                 seed: int | None, drop_leaking: bool = False, config_file: str | None = None, *,
                 runtime: Runtime = Runtime(), argv: list[str] | None = None,
                 on_epoch: Callable[[dict], None] | None = None,
                 config: FinetuneConfig | None = None) -> FinetuneResult:
    """Fine-tune on the split's train rows plus `extra_paths` tables, early stopping on its valid rows; write the
    checkpoint directory (weights or adapter, finetune.json, training log, manifest). `on_epoch` gets each
    epoch's row (a progress display); `seed` None takes the runtime's; `config`, the step's config when it is
    one, is recorded in the manifest."""
    import polars as pl
    import torch

    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.adapters.base import count_parameters
    from molpeft_cli.data.atomic import atomic_dir
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.model.loading import load_pretrained
    from molpeft_cli.settings import resolve_device
    from molpeft_cli.training.checkpoint import BaseModelRef, config_overrides, save_finetuned
    from molpeft_cli.training.distributed import launch_context, shutdown
    from molpeft_cli.training.regression import LabelledSet, finetune_supervised, with_features

    runtime.apply_threads()
    dist = launch_context(resolve_device(runtime.device))  # torchrun's rank, or one process
    if not dist.is_main:  # rank 0 speaks for the run and writes it
        logging.getLogger("molpeft_cli").setLevel(logging.WARNING)
        on_epoch = None
    seed = runtime.seed_for(seed)
    options = options.resolved()
    adapter = REGISTRY[options.peft]
    recorder = Recorder("finetune", {**options.to_dict(), "model": model_ref, "drop_leaking": drop_leaking},
                        seed, {"split": split_path, "config": config_file,
                               **{f"extra_{i + 1}": p for i, p in enumerate(extra_paths)}}, argv, config=config)
    split = load_molecules(split_path, "split")
    extras = [load_molecules(p, f"extra {i + 1}") for i, p in enumerate(extra_paths)]
    train_table = gather_training_data(split, extras, drop_leaking)
    valid_table = split.filter(pl.col("split") == "valid")
    train, valid = LabelledSet.from_table(train_table), LabelledSet.from_table(valid_table)
    train_split = split.filter(pl.col("split") == "train")
    task = resolve_training_task(options.task, train_split["label"].to_list(), train.labels, bool(extras))
    options = options.for_task(task)
    pos_weight = options.pos_weight_for(train.labels)
    log.info(describe_task(task, train.labels, pos_weight))
    if task == CLASSIFICATION:  # the task's settings join the recorded ones (regression's records stay as they were)
        recorder.params = {**options.to_dict(), "model": model_ref, "drop_leaking": drop_leaking}
    check_base_task(model_ref, task)
    # the features' statistics come from the train split alone, so every selection of a seed shares them
    features, (train, valid) = with_features(
        options.features, split.filter(pl.col("split") == "train")["smiles_canonical"].to_list(), train, valid)

    base_ref = BaseModelRef.resolve(model_ref)
    recorder.inputs["model"] = base_ref.path
    torch.manual_seed(seed)  # the new head's initialisation
    loaded = load_pretrained(base_ref.path, "regression", config_overrides=config_overrides(
        options.to_dict(), 0 if features is None else features.dim))
    model = adapter.prepare(loaded.model, options.to_dict())
    counts = count_parameters(model)
    selection = extras_label(extras)
    log.info(f"{options.peft}: {counts.describe()}; {len(train.ids)} training molecules "
             f"({len(train.ids) - split.filter(pl.col('split') == 'train').height} extra, selection {selection}), "
             f"{len(valid.ids)} validation")
    if dist.distributed:
        log.info(f"data-parallel: {dist.world_size} processes ({dist.backend}), global batch {options.batch_size}")
    result = finetune_supervised(model, loaded.tokenizer, options, train, valid, seed, on_epoch,
                                 device=runtime.device, dist=dist)
    if not dist.is_main:
        shutdown()
        return FinetuneResult(Path(output), {}, result.log)  # only rank 0 writes
    if result.truncated:
        shown = ", ".join(result.truncated[:10]) + (f" and {len(result.truncated) - 10} more"
                                                    if len(result.truncated) > 10 else "")
        log.warning(SettingError("truncate", f"{len(result.truncated)} molecules longer than the model's "
                                 f"{loaded.tokenizer.model_max_length} positions were cut to fit: {shown}; recorded "
                                 "in finetune.json and the manifest (setting truncate; {no_truncate} makes this "
                                 "an error)"))
    score = SCORE_NAMES[result.stop_metric]
    log.info(f"best epoch {result.best_epoch}: valid {score} {result.best_valid_value:.4f} "
             f"({result.train_seconds:.1f} s training)")
    if not result.converged:
        log.warning(SettingError("max_epochs", f"not converged: the validation {score} was still improving "
                                 f"within the last {options.patience} of {{setting}} {options.max_epochs} (raise "
                                 "{setting})"))
    meta = {
        "peft": options.peft,
        "base_model": base_ref.__dict__,
        "label_scaling": {"mean": result.scaler.mean, "std": result.scaler.std},
        "trainable_params": counts.trainable,
        "total_params": counts.total,
        "train_seconds": result.train_seconds,
        "best_epoch": result.best_epoch,
        "best_valid_mse": result.best_valid_mse,
        "converged": result.converged,
        "epochs_run": result.epochs_run,
        "n_train": len(train.ids),
        "n_extra": len(train.ids) - split.filter(pl.col("split") == "train").height,
        "selection": selection,
        "seed": seed,
        "truncated": result.truncated,
        "options": options.to_dict(),
        "adapter": adapter.options_summary(options.to_dict()),
        "distributed": dist.describe(),
    }
    if task == CLASSIFICATION:
        meta.update({"task": task, "class_balance": {"train": class_counts(train.labels),
                                                     "valid": class_counts(valid.labels),
                                                     "pos_weight": result.pos_weight},
                     "stop_metric": result.stop_metric, "best_valid_value": result.best_valid_value})
    if features is not None:
        meta["features"] = features.describe()
    summary = ("trainable_params", "total_params", "best_epoch", "best_valid_mse", "converged", "selection",
               "truncated", *(("task", "stop_metric", "best_valid_value") if task == CLASSIFICATION else ()))
    with atomic_dir(output) as tmp:
        save_finetuned(tmp, result.model, loaded.tokenizer, adapter, meta, features)
        write_table(result.log, tmp / "training_log.parquet")
        recorder.write(tmp, extra={"result": {k: meta[k] for k in summary}, "distributed": dist.describe()},
                       directory=True)
    shutdown()
    log.info(f"wrote {output}")
    return FinetuneResult(Path(output), meta, result.log)
