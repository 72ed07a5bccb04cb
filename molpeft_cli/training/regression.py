"""Supervised fine-tuning (stage 2) of the single-output model, for regression or binary classification, and
prediction.

Regression: labels are standardised with the training split's mean and sd (stored with the checkpoint, undone at
prediction); the loss is MSE on standardised labels; early stopping watches the validation MSE (original units).
Classification (`options.task`): 0/1 labels as they are (no scaling), binary cross-entropy on the head's logit
(positive rows weighted by `pos_weight`), early stopping on the validation log loss or ROC-AUC (higher is better).
Either way the best epoch's weights are restored. AdamW with weight decay on weight matrices only, and a
warmup-then-plateau learning rate (`training/optim.py`). A run has *converged* when early stopping fired:
`patience` epochs in a row without a better validation score within --max-epochs; a run that used every epoch
while still improving has not.
Runs are seeded: the same seed on the same machine gives the same model.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.model.heads import regression_loss, task_loss
from molpeft_cli.training.batching import iter_batches, restore_order
from molpeft_cli.training.distributed import DistContext, predict_sharded, shard_batch
from molpeft_cli.training.loop import EarlyStopping, snapshot
from molpeft_cli.training.metrics import classification_metrics, regression_metrics
from molpeft_cli.training.options import FinetuneOptions

log = logging.getLogger(__name__)

# regression_loss (model.heads): the task's loss on the head's output, re-exported as the fine-tuning loop uses it
__all__ = ["FinetuneResult", "LabelScaler", "LabelledSet", "encode", "finetune_regression", "finetune_supervised",
           "log_schema", "predict_encoded", "regression_loss", "with_features"]


@dataclass
class LabelledSet:
    ids: list[str]
    smiles: list[str]
    labels: np.ndarray  # float64, original units
    features: np.ndarray | None = None  # [n, d] standardised molecule features (`--features`), else None

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.smiles) == len(self.labels)):
            raise ValueError("ids, smiles and labels differ in length")
        if self.features is not None and len(self.features) != len(self.ids):
            raise ValueError("features and molecules differ in length")

    @classmethod
    def from_table(cls, table: pl.DataFrame) -> LabelledSet:
        if table["label"].null_count():
            raise MolpeftError(f"{table['label'].null_count()} molecules have no label; training needs labels")
        return cls(table["mol_id"].cast(pl.String).to_list(), table["smiles_canonical"].to_list(),
                   table["label"].cast(pl.Float64).to_numpy())


def with_features(kinds: Sequence[str], fit_smiles: Sequence[str], *sets: LabelledSet):
    """Fit the molecule features `kinds` on `fit_smiles` (the training split) and attach them to each set:
    (MoleculeFeatures, [sets with features]); (None, sets unchanged) when `kinds` is empty."""
    if not kinds:
        return None, list(sets)
    from dataclasses import replace

    from molpeft_cli.chem.features import MoleculeFeatures, check_sets, raw_features

    started = time.perf_counter()
    kinds = check_sets(kinds)
    unique = list(dict.fromkeys([*fit_smiles, *(smi for s in sets for smi in s.smiles)]))
    row_of = {smi: i for i, smi in enumerate(unique)}
    raw = raw_features(kinds, unique)  # each molecule once (RDKit's descriptors take ~10 ms each)
    features = MoleculeFeatures.from_values(kinds, raw[[row_of[smi] for smi in fit_smiles]])
    attached = [replace(s, features=features.standardise(raw[[row_of[smi] for smi in s.smiles]])) for s in sets]
    log.info(f"features {'+'.join(features.sets)}: {features.dim} columns, standardised on {len(fit_smiles)} "
             f"training molecules ({time.perf_counter() - started:.1f} s)")
    return features, attached


@dataclass
class LabelScaler:
    mean: float
    std: float

    @classmethod
    def fit(cls, labels: np.ndarray) -> LabelScaler:
        std = float(np.std(labels))
        return cls(float(np.mean(labels)), std if std > 0 else 1.0)

    def transform(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean


@dataclass
class FinetuneResult:
    model: nn.Module
    log: pl.DataFrame
    best_epoch: int
    best_valid_mse: float | None  # regression's best validation MSE; None for classification
    train_seconds: float
    scaler: LabelScaler
    truncated: list[str]
    converged: bool = False  # early stopping fired (patience epochs without improvement) within max_epochs
    epochs_run: int = 0
    task: str = "regression"
    stop_metric: str = "mse"
    best_valid_value: float | None = None  # the stop metric's value at the best epoch
    pos_weight: float | None = None  # classification: the positive rows' loss weight


def log_schema(task: str) -> dict:
    """The training log's columns and types for `task`."""
    scores = ("valid_mse", "valid_mae") if task == "regression" else ("valid_log_loss", "valid_roc_auc")
    return {"epoch": pl.Int64, "train_loss": pl.Float64, **{name: pl.Float64 for name in scores},
            "lr": pl.Float64, "seconds": pl.Float64}


def encode(tokenizer, data: LabelledSet | Sequence[str], truncate: bool, ids: Sequence[str] | None = None,
           what: str = "input"):
    """Token ids for a set of molecules; molecules with tokens outside the vocabulary are reported (<unk>)."""
    from molpeft_cli.model import encode_smiles

    if isinstance(data, LabelledSet):
        encoded = encode_smiles(tokenizer, data.smiles, truncate=truncate, ids=data.ids)
    else:
        encoded = encode_smiles(tokenizer, list(data), truncate=truncate, ids=ids)
    summary = encoded.summary()
    if summary["unknown_tokens"]:
        tokens = ", ".join(f"{t} x{n}" for t, n in list(summary["unknown_token_counts"].items())[:5])
        log.warning(f"{summary['molecules_with_unknown_tokens']} {what} molecules contain tokens outside the model's "
             f"vocabulary (read as <unk>): {tokens}")
    return encoded


@torch.no_grad()
def predict_encoded(model: nn.Module, input_ids: list[list[int]], pad_id: int, batch_size: int = 128,
                    features: np.ndarray | None = None) -> np.ndarray:
    """Standardised-scale predictions in input order; eval mode, length-sorted batches (deterministic).
    `features`: the molecules' standardised extra features, for a model whose head takes them."""
    model.eval()
    device = next(model.parameters()).device
    indices, outputs = [], []
    for batch in iter_batches(input_ids, batch_size, pad_id, shuffle=False, features=features):
        batch = batch.to(device)
        out = model(**batch.inputs())
        indices.append(batch.indices)
        outputs.append(out.logits.squeeze(-1).double().cpu())
    if not outputs:
        return np.zeros(0)
    return restore_order(indices, outputs).numpy()


def finetune_supervised(
    model: nn.Module,
    tokenizer,
    options: FinetuneOptions,
    train: LabelledSet,
    valid: LabelledSet,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
    device: str = "auto",
    dist: DistContext | None = None,
) -> FinetuneResult:
    """Train `model` (already prepared by its adapter) for `options.task` (auto: decided on the training labels)
    and return it with the best validation epoch restored. Under torchrun, `dist` is this process's rank
    (training.distributed; its device wins over `device`) and `options.batch_size` is the global batch; the same
    data-parallel paths serve both tasks."""
    if len(train.ids) == 0:
        raise MolpeftError("the training set is empty")
    if len(valid.ids) == 0:
        raise MolpeftError("the validation split is empty; early stopping needs it")
    from molpeft_cli.settings import resolve_device
    from molpeft_cli.tasks import HIGHER_IS_BETTER, REGRESSION, resolve_task
    from molpeft_cli.training.checkpoint import task_prediction

    task = resolve_task(options.task, train.labels)
    options = options.for_task(task)
    regression = task == REGRESSION
    if not regression:
        check_classification_sets(train, valid, options.stop_metric)
    pos_weight = options.pos_weight_for(train.labels)
    loss_fn = task_loss(task, None if pos_weight in (None, 1.0) else pos_weight)
    dist = dist or DistContext(device=resolve_device(device))
    torch.manual_seed(dist.rank_seed(seed))
    device = torch.device(dist.device)
    model.to(device)
    train_model = dist.wrap(model)
    scaler = LabelScaler.fit(train.labels) if regression else LabelScaler(0.0, 1.0)  # 0/1 labels as they are
    enc_train = encode(tokenizer, train, options.truncate, what="training")
    enc_valid = encode(tokenizer, valid, options.truncate, what="validation")
    truncated = [train.ids[i] for i in enc_train.truncated] + [valid.ids[i] for i in enc_valid.truncated]
    pad_id = tokenizer.pad_token_id
    z_train = scaler.transform(train.labels) if regression else train.labels
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise MolpeftError("no parameter is trainable")
    from molpeft_cli.training.optim import finetune_optimizer, optimizer_step

    optimizer, schedule = finetune_optimizer(model, options,
                                             math.ceil(len(enc_train.input_ids) / options.batch_size))
    stopping = EarlyStopping(options.patience, higher_is_better=HIGHER_IS_BETTER[options.stop_metric])
    best_state, converged = None, False
    rows = []
    started = time.perf_counter()
    for epoch in range(1, options.max_epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        total, count = 0.0, 0
        for batch in iter_batches(enc_train.input_ids, options.batch_size, pad_id, shuffle=True,
                                  seed=seed * 100_003 + epoch, labels=z_train, features=train.features):
            if dist.distributed:
                shard = dist.shard(len(batch.indices))
                batch = shard_batch(batch, shard)
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.bf16):
                out = train_model(**batch.inputs())
            if dist.distributed:
                per_row = loss_fn(out.logits, batch.labels, reduction="none")
                loss = dist.rank_loss(per_row, shard)
                step = dist.all_sum(torch.stack([(per_row.detach() * shard.weights.to(device)).sum().double().cpu(),
                                                 shard.weights.sum().double()]))
                step_loss, step_count = float(step[0]) / float(step[1]), int(step[1])
            else:
                loss = loss_fn(out.logits, batch.labels)
                step_loss, step_count = None, len(batch.indices)
            if not math.isfinite(loss.item() if step_loss is None else step_loss):  # the same on every rank
                raise SettingError("lr", f"training diverged at epoch {epoch} (loss {loss.item()}); lower {{setting}}")
            optimizer_step(loss, optimizer, schedule, trainable, options.grad_clip)
            total += (loss.item() if step_loss is None else step_loss) * step_count
            count += step_count
        if dist.distributed:  # each rank predicts its block of the validation set; every rank gets them all
            raw = predict_sharded(
                dist, lambda rows: predict_encoded(model, [enc_valid.input_ids[i] for i in rows], pad_id,
                                                   features=None if valid.features is None else valid.features[rows]),
                list(range(len(enc_valid.input_ids)))).numpy()
        else:
            raw = predict_encoded(model, enc_valid.input_ids, pad_id, features=valid.features)
        if regression:
            metrics = regression_metrics(valid.labels, scaler.inverse(raw))
            scores = {"valid_mse": metrics["mse"], "valid_mae": metrics["mae"]}
        else:
            probabilities = task_prediction(task, raw)
            if not np.isfinite(probabilities).all():
                raise SettingError("lr", f"training diverged at epoch {epoch} (non-finite validation logits); "
                                   "lower {setting}")
            metrics = classification_metrics(valid.labels, probabilities)
            scores = {"valid_log_loss": metrics["log_loss"], "valid_roc_auc": metrics["roc_auc"]}
        row = {"epoch": epoch, "train_loss": total / count, **scores, "lr": schedule.lr,
               "seconds": time.perf_counter() - epoch_start}
        rows.append(row)
        improved = stopping.update(metrics[options.stop_metric], epoch)
        if improved:
            best_state = snapshot(model)
        if on_epoch:
            on_epoch({**row, "best_epoch": stopping.best_step, "improved": improved})
        schedule.epoch_end(improved)
        if stopping.should_stop():
            converged = options.patience > 0
            break
    model.load_state_dict(best_state)
    model.to("cpu").eval()  # checkpoints are written from CPU tensors
    log = pl.DataFrame(rows, schema=log_schema(task))
    return FinetuneResult(model, log, stopping.best_step, stopping.best if regression else None,
                          time.perf_counter() - started, scaler, truncated, converged, len(rows), task,
                          options.stop_metric, stopping.best, pos_weight)


finetune_regression = finetune_supervised  # the loop's name from before classification; code may import either


def check_classification_sets(train: LabelledSet, valid: LabelledSet, stop_metric: str) -> None:
    """Classification's training and validation labels are 0/1, and ROC-AUC stopping needs both classes in valid."""
    from molpeft_cli.tasks import is_binary

    if not np.isin(valid.labels, (0.0, 1.0)).all():
        raise MolpeftError("the validation labels are not 0/1 while the training labels are: the splits hold "
                           "different tasks")
    if stop_metric == "roc_auc" and not is_binary(valid.labels):
        raise SettingError("stop_metric", "{setting} roc_auc needs both classes in the validation split, which "
                           f"has only label {valid.labels[0]:g}; use {{setting}} log_loss")
