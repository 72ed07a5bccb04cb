"""The retraining behind the LDS check (influence/check.py): from a fine-tuned checkpoint's weights, train on the
training split plus each pool subset with the checkpoint's own fine-tuning recipe and its task's loss (MSE on
standardised labels; binary cross-entropy on the logit, weighted by the checkpoint's pos_weight), with common
random numbers, and measure the validation loss (MSE; the unweighted BCE, i.e. the log loss); records of it are
saved and reused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.influence.check import CheckConfig, draw_subsets

# What a retraining record was made with: records of another procedure (before the fine-tuning recipe: a bare
# AdamW without warmup) are refused rather than mixed with this one's losses.
RETRAINING_PROCEDURE = "finetune-recipe"


@dataclass
class Retraining:
    """Validation losses after training from the checkpoint on train alone and on train + each subset."""

    members: np.ndarray  # (M, n_pool) bool
    base_loss: float  # train alone, trained the same way
    start_loss: float  # the checkpoint as it is
    losses: np.ndarray  # (M,)
    n_train: int
    seconds: float
    task: str = "regression"  # the checkpoint's: regression (MSE) or classification (BCE, the log loss)

    @property
    def measured(self) -> np.ndarray:
        return self.losses - self.base_loss


def retrain_subsets(checkpoint: str, split, pool, config: CheckConfig, progress=None, jobs: int = 1) -> Retraining:
    """Train the checkpoint on train + each subset (and on train alone) and measure the validation loss
    (MSE on labels standardised with the checkpoint's scale; for a classification checkpoint the mean binary
    cross-entropy of the logits against the 0/1 labels: the loss influence scores refer to).

    `jobs` > 1 spreads the retrainings over that many worker processes of one thread each; every retraining
    starts from the checkpoint with its own seeds, so the losses are the same for any `jobs`.
    """
    import time

    from molpeft_cli.chem.audit import leaking_ids

    if "split" not in split.columns:
        raise SettingError("train", "{setting} needs a split table (with a `split` column)")
    if pool["label"].null_count():
        raise MolpeftError(f"{pool['label'].null_count()} pool molecules have no label; retraining needs labels")
    if jobs < 1:
        raise SettingError("jobs", f"{{setting}} must be >= 1, got {jobs}")
    leaking, _ = leaking_ids(split, pool, ("valid", "test"))  # the one leakage guard, as finetune's
    if leaking:
        raise SettingError("pool", f"{{setting}} has {len(leaking)} molecules that are valid/test compounds "
                           f"({', '.join(leaking[:5])}): retraining on them would leak the validation target; "
                           "leave them out (the select step excludes them)")
    started = time.perf_counter()
    members = draw_subsets(pool.height, config.subsets, config.fraction, config.seed)
    tasks = [-1, *range(config.subsets)]  # -1: train alone
    losses: dict[int, float] = {}
    if jobs == 1:
        worker = _Retrainer(checkpoint, split, pool, config)
        losses[-2] = worker.start_loss
        for task in tasks:
            losses[task] = worker.loss_after(members[task] if task >= 0 else None)
            if progress:
                progress(task + 1, losses[task])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        shares = [tasks[k::jobs] for k in range(jobs)]
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool_executor:
            futures = [pool_executor.submit(_retrain_share, checkpoint, split, pool, config, members, share)
                       for share in shares if share]
            for future in as_completed(futures):
                for task, loss in future.result().items():
                    losses[task] = loss
                    if progress and task >= -1:
                        progress(task + 1, loss)
    return Retraining(members, losses[-1], losses[-2], np.array([losses[j] for j in range(config.subsets)]),
                      int((split["split"] == "train").sum()), time.perf_counter() - started,
                      checkpoint_task(checkpoint))


def checkpoint_task(checkpoint: str) -> str:
    """The task a fine-tuned checkpoint's finetune.json records (FinetunedModel.task's rule), without its weights."""
    import json
    from pathlib import Path

    from molpeft_cli.training.checkpoint import META_FILE, FinetunedModel

    try:
        meta = json.loads((Path(checkpoint) / META_FILE).read_text())
    except (OSError, ValueError):
        return "regression"  # load_finetuned has already said what is wrong with such a checkpoint
    return FinetunedModel(None, None, meta if isinstance(meta, dict) else {}).task


def _retrain_share(checkpoint: str, split, pool, config: CheckConfig, members: np.ndarray,
                   tasks: list[int]) -> dict[int, float]:
    """One worker process: its share of the retrainings (-1: train alone), on one thread; -2: the start loss."""
    from molpeft_cli.settings import Runtime

    Runtime(threads=1).apply_threads()
    worker = _Retrainer(checkpoint, split, pool, config)  # its errors pickle, so they reach the parent as raised
    losses = {-2: worker.start_loss}
    for task in tasks:
        losses[task] = worker.loss_after(members[task] if task >= 0 else None)
    return losses


class _Retrainer:
    """The checkpoint, its encoded data and its fine-tuning recipe; `loss_after(rows)` retrains from the
    checkpoint's weights with the pool rows added and returns the validation loss."""

    def __init__(self, checkpoint: str, split, pool, config: CheckConfig) -> None:
        import polars as pl

        from molpeft_cli.influence.losses import checkpoint_pos_weight
        from molpeft_cli.tasks import CLASSIFICATION
        from molpeft_cli.training.checkpoint import load_finetuned
        from molpeft_cli.training.regression import encode

        reference = load_finetuned(checkpoint)
        mean, std = reference.label_mean, reference.label_std
        self.task = reference.task
        self.pos_weight = checkpoint_pos_weight(reference.meta) if self.task == CLASSIFICATION else None
        if self.task == CLASSIFICATION:
            from molpeft_cli.influence.job import check_binary_labels

            check_binary_labels(split, "split")
            check_binary_labels(pool, "pool")
        self.recipe = recorded_recipe(reference.meta["options"], config.lr)
        self.config = config
        self.tokenizer = reference.tokenizer
        train = split.filter(pl.col("split") == "train")
        valid = split.filter(pl.col("split") == "valid")
        if valid.height == 0:
            raise MolpeftError("the validation split is empty; the check measures the validation loss")
        truncate = True  # over-long molecules are cut to fit, as `molpeft influence` does by default

        def encoded(table, what: str):
            smiles = table["smiles_canonical"].to_list()
            ids = encode(self.tokenizer, smiles, truncate, what=what).input_ids
            return ids, (table["label"].cast(pl.Float64).to_numpy() - mean) / std, reference.featurize(smiles)

        self.train_ids, self.z_train, self.f_train = encoded(train, "training")
        self.pool_ids, self.z_pool, self.f_pool = encoded(pool, "pool")
        self.valid_ids, self.z_valid, self.f_valid = encoded(valid, "validation")
        self.model = reference.model
        self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.start_loss = self.valid_loss()

    def valid_loss(self) -> float:
        from molpeft_cli.training.regression import predict_encoded

        pred = predict_encoded(self.model, self.valid_ids, self.tokenizer.pad_token_id, features=self.f_valid)
        if self.task == "classification":
            return validation_log_loss(pred, self.z_valid)
        return float(np.mean((pred - self.z_valid) ** 2))

    def loss_after(self, rows: np.ndarray | None) -> float:
        self.model.load_state_dict(self.state)
        chosen = np.flatnonzero(rows) if rows is not None else np.zeros(0, dtype=int)
        continue_training(self.model, self.train_ids, self.z_train, [self.pool_ids[i] for i in chosen],
                          self.z_pool[chosen], self.tokenizer.pad_token_id, recipe=self.recipe,
                          epochs=self.config.epochs, seed=self.config.seed, train_features=self.f_train,
                          extra_features=None if self.f_pool is None else self.f_pool[chosen], task=self.task,
                          pos_weight=self.pos_weight)
        loss = self.valid_loss()
        self.model.load_state_dict(self.state)
        return loss


def validation_log_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of logits against 0/1 labels, log(1 + e^z) - y z per row (stable for any z)."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def recorded_recipe(options: dict, lr: float | None = None):
    """The fine-tuning recipe (FinetuneOptions) a checkpoint's finetune.json `options` record, `lr` overriding its
    rate. A checkpoint from before the warmup setting existed was trained without one."""
    from dataclasses import fields, replace

    from molpeft_cli.training.options import FinetuneOptions

    known = {f.name for f in fields(FinetuneOptions)}
    recipe = FinetuneOptions(**{"warmup_epochs": 0.0, **{k: v for k, v in options.items() if k in known}})
    if lr is not None:
        recipe = replace(recipe, lr=lr)
    return recipe if recipe.lr is not None else recipe.resolved()  # finetune.json records the resolved recipe


def continue_training(model, train_ids, train_labels: np.ndarray, extra_ids, extra_labels: np.ndarray,
                      pad_id: int, *, recipe, epochs: int, seed: int, train_features: np.ndarray | None = None,
                      extra_features: np.ndarray | None = None, task: str = "regression",
                      pos_weight: float | None = None) -> None:
    """Fine-tuning's step under `recipe` (a resolved FinetuneOptions: the fine-tuning optimizer and its warmup,
    clipping, batch size, the task's loss: MSE on standardised labels, or BCE on 0/1 labels with `pos_weight`;
    dropout on) from the model's current weights, with a fresh
    optimizer, over the training rows plus `extra` rows (`*_features`: their molecule features, for a head that
    takes them). The rate warms up over `recipe.warmup_epochs` of this run's steps and then stays at the base rate:
    the plateau decay needs a validation between epochs, which the retraining does not run. Always float32 (the
    check measures small differences of the loss), whatever the recipe's bf16.

    Common random numbers: the training rows are batched exactly as in the train-only run (same order, same
    dropout draws: the generator is reseeded per batch), and the extra rows come in their own batches spread
    evenly between them, so two runs differ only by the extra rows, not by the batch order's noise.
    """
    import torch

    from molpeft_cli.model.heads import binary_classification_loss, regression_loss
    from molpeft_cli.tasks import CLASSIFICATION, check_task
    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.optim import finetune_optimizer, optimizer_step

    if check_task(task) == CLASSIFICATION:
        def loss_of(logits, labels):
            return binary_classification_loss(logits, labels, pos_weight)
    else:
        loss_of = regression_loss
    device = next(model.parameters()).device
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise MolpeftError("the checkpoint has no trainable parameter to retrain")

    def epoch_batches(epoch: int) -> list:
        """(tag, batch) in training order; the tag seeds the batch's dropout draws."""
        epoch_seed = seed * 100_003 + epoch
        main = list(iter_batches(train_ids, recipe.batch_size, pad_id, shuffle=True, seed=epoch_seed,
                                 labels=train_labels, features=train_features))
        extra = list(iter_batches(extra_ids, recipe.batch_size, pad_id, shuffle=True, seed=epoch_seed + 1,
                                  labels=extra_labels, features=extra_features)) if len(extra_ids) else []
        # extra batch k goes after main batch floor((k + 1) * len(main) / (len(extra) + 1))
        after = {int((k + 1) * len(main) / (len(extra) + 1)): k for k in range(len(extra))}
        order = []
        for i, batch in enumerate(main):
            if i in after:
                order.append((2 * after[i] + 1, extra[after[i]]))
            order.append((2 * i, batch))
        return order

    batches = epoch_batches(1)
    optimizer, schedule = finetune_optimizer(model, recipe, len(batches))
    model.train()
    for epoch in range(1, epochs + 1):
        batches = batches if epoch == 1 else epoch_batches(epoch)
        for tag, batch in batches:  # dropout draws fixed per batch: the same for a train batch in every run
            torch.manual_seed(((seed * 100_003 + epoch) * 1_000_003 + tag) % (2**63))
            batch = batch.to(device)
            optimizer.zero_grad(set_to_none=True)
            out = model(**batch.inputs())
            loss = loss_of(out.logits, batch.labels)
            if not torch.isfinite(loss):
                raise SettingError("lr", f"retraining diverged (loss {loss.item()}); lower {{setting}}")
            optimizer_step(loss, optimizer, schedule, trainable, recipe.grad_clip)
    model.eval()


def save_retraining(path, retraining: Retraining, config: CheckConfig, checkpoint: str) -> None:
    """Record a retraining (JSON, atomic) so later checks of other scores reuse it instead of retraining."""
    import json
    from pathlib import Path

    from molpeft_cli.data.atomic import atomic_path

    record = {"procedure": RETRAINING_PROCEDURE, "checkpoint": str(checkpoint), "config": config.to_dict(),
              "n_pool": int(retraining.members.shape[1]),
              "members": [np.flatnonzero(m).tolist() for m in retraining.members],
              "base_loss": retraining.base_loss, "start_loss": retraining.start_loss,
              "losses": retraining.losses.tolist(), "n_train": retraining.n_train, "seconds": retraining.seconds,
              **({"task": retraining.task} if retraining.task != "regression" else {})}
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1))


def load_retraining(path, config: CheckConfig, n_pool: int) -> Retraining:
    """A recorded retraining; refused when it was made with other check settings or another pool size."""
    import json
    from pathlib import Path

    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise MolpeftError(f"cannot read the retraining record {path}: {exc}") from None
    mine = {k: v for k, v in config.to_dict().items() if k != "bootstrap"}
    theirs = {k: v for k, v in record.get("config", {}).items() if k != "bootstrap"}
    if record.get("procedure") != RETRAINING_PROCEDURE:
        raise SettingError("retraining", f"the retraining record {path} was made by an earlier retraining procedure "
                           "(not the checkpoint's fine-tuning recipe); remove it, or give another {setting}")
    if mine != theirs or record.get("n_pool") != n_pool:
        raise SettingError("retraining", f"the retraining record {path} was made with other settings ({theirs}, "
                           f"pool of {record.get('n_pool')}); use the same {{subsets}}/{{fraction}}/{{epochs}}/"
                           "{lr}/{seed}, or give another {setting}")
    members = np.zeros((len(record["members"]), n_pool), dtype=bool)
    for j, rows in enumerate(record["members"]):
        members[j, rows] = True
    return Retraining(members, float(record["base_loss"]), float(record["start_loss"]),
                      np.asarray(record["losses"], dtype=float), int(record["n_train"]), float(record["seconds"]),
                      str(record.get("task", "regression")))
