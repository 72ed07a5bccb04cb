"""One fine-tuning job from files to a checkpoint directory: the library call behind `molpeft finetune`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import polars as pl

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.settings import Runtime
from molpeft_cli.steps.finetune import FinetuneOutcome
from molpeft_cli.training.options import FinetuneOptions

log = logging.getLogger(__name__)


def gather_training_data(split: pl.DataFrame, extras: list[pl.DataFrame], drop_leaking: bool) -> pl.DataFrame:
    """The train split plus extra molecules; an extra that is a valid/test compound is refused (or dropped)."""
    from molpeft_cli.chem.audit import leaking_pool_ids

    if "split" not in split.columns:
        raise MolpeftError("the input has no `split` column; run `molpeft split` first")
    train = split.filter(pl.col("split") == "train")
    parts = [train.select("mol_id", "smiles_canonical", "inchikey", "label")]
    for i, extra in enumerate(extras):
        leaking = leaking_pool_ids(split, extra, ("valid", "test"))
        if leaking:
            listed = ", ".join(sorted(leaking)[:5])
            if not drop_leaking:
                raise SettingError("extra", f"{{setting}} table {i + 1} has {len(leaking)} molecules that are "
                                   f"valid/test compounds ({listed}); select with the select step (it excludes "
                                   "them) or set {drop_leaking}")
            log.warning(f"dropping {len(leaking)} --extra molecules that are valid/test compounds: {listed}")
            extra = extra.filter(~pl.col("mol_id").is_in(list(leaking)))
        parts.append(extra.select("mol_id", "smiles_canonical", "inchikey", "label"))
    data = pl.concat(parts, how="vertical_relaxed")
    dup = data.filter(pl.col("inchikey").is_duplicated())
    if dup.height:
        log.warning(f"{dup['inchikey'].n_unique()} compounds occur in more than one training source; each copy trains")
    return data


def selection_name(extras: list[pl.DataFrame]) -> str:
    names = []
    for extra in extras:
        if "strategy" in extra.columns and extra.height:
            names.extend(sorted(set(extra["strategy"].cast(pl.String).to_list())))
        else:
            names.append("extra")
    return "+".join(names) if names else "none"


def run_finetune(split_path: str, output: str, options: FinetuneOptions, model_ref: str, extra_paths: list[str],
                 seed: int | None, drop_leaking: bool = False, config_file: str | None = None, *,
                 runtime: Runtime = Runtime(), argv: list[str] | None = None,
                 on_epoch: Callable[[dict], None] | None = None) -> FinetuneOutcome:
    """Fine-tune on the split's train rows plus `extra_paths` tables, early stopping on its valid rows; write the
    checkpoint directory (weights or adapter, finetune.json, training log, manifest). `on_epoch` gets each
    epoch's row (a progress display); `seed` None takes the runtime's."""
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
    from molpeft_cli.training.regression import LabelledSet, finetune_regression, with_features

    if runtime.threads:
        torch.set_num_threads(runtime.threads)
    dist = launch_context(resolve_device(runtime.device))  # torchrun's rank, or one process
    if not dist.is_main:  # rank 0 speaks for the run and writes it
        logging.getLogger("molpeft_cli").setLevel(logging.WARNING)
        on_epoch = None
    seed = runtime.seed_for(seed)
    options = options.resolved()
    adapter = REGISTRY[options.peft]
    recorder = Recorder("finetune", {**options.to_dict(), "model": model_ref, "drop_leaking": drop_leaking},
                        seed, {"split": split_path, "config": config_file,
                               **{f"extra_{i + 1}": p for i, p in enumerate(extra_paths)}}, argv)
    split = load_molecules(split_path, "split")
    extras = [load_molecules(p, f"extra {i + 1}") for i, p in enumerate(extra_paths)]
    train_table = gather_training_data(split, extras, drop_leaking)
    valid_table = split.filter(pl.col("split") == "valid")
    train, valid = LabelledSet.from_table(train_table), LabelledSet.from_table(valid_table)
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
    selection = selection_name(extras)
    log.info(f"{options.peft}: {counts.describe()}; {len(train.ids)} training molecules "
         f"({len(train.ids) - split.filter(pl.col('split') == 'train').height} extra, selection {selection}), "
         f"{len(valid.ids)} validation")
    if dist.distributed:
        log.info(f"data-parallel: {dist.world_size} processes ({dist.backend}), global batch {options.batch_size}")
    result = finetune_regression(model, loaded.tokenizer, options, train, valid, seed, on_epoch,
                                 device=runtime.device, dist=dist)
    if not dist.is_main:
        shutdown()
        return FinetuneOutcome(Path(output), {}, result.log)  # only rank 0 writes
    if result.truncated:
        shown = ", ".join(result.truncated[:10]) + (f" and {len(result.truncated) - 10} more"
                                                    if len(result.truncated) > 10 else "")
        log.warning(f"{len(result.truncated)} molecules longer than the model's "
                    f"{loaded.tokenizer.model_max_length} positions were cut to fit: {shown}; recorded in "
                    "finetune.json and the manifest (setting truncate; --no-truncate makes this an error)")
    log.info(f"best epoch {result.best_epoch}: valid MSE {result.best_valid_mse:.4f} "
         f"({result.train_seconds:.1f} s training)")
    if not result.converged:
        log.warning(f"not converged: the validation MSE was still improving within the last {options.patience} of "
             f"--max-epochs {options.max_epochs} (raise --max-epochs)")
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
    if features is not None:
        meta["features"] = features.describe()
    with atomic_dir(output) as tmp:
        save_finetuned(tmp, result.model, loaded.tokenizer, adapter, meta, features)
        write_table(result.log, tmp / "training_log.parquet")
        recorder.write(tmp, extra={"result": {k: meta[k] for k in ("trainable_params", "total_params",
                                                                   "best_epoch", "best_valid_mse", "converged",
                                                                   "selection", "truncated")},
                                         "distributed": dist.describe()},
                       directory=True)
    shutdown()
    log.info(f"wrote {output}")
    return FinetuneOutcome(Path(output), meta, result.log)
