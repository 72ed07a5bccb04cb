"""The check of influence scores against retraining: the linear datamodeling score (LDS; Park et al. 2023).

M random subsets S_j of the pool (each a `fraction` of it) are drawn; for each, the fine-tuned model is trained
on, from its own weights (the same starting point every time), for `epochs` epochs on train + S_j with the same
seed, label scale and the checkpoint's own fine-tuning recipe (its AdamW groups, weight decay, warmup, clipping;
training rows batched identically in every run, see continue_training), and the validation loss is measured.
The measured change is L_valid(train + S_j) - L_valid(train alone, trained the same way); the predicted change is
the first-order influence sum -sum_{z in S_j} score(z) / n_train. LDS = Spearman(predicted, measured) over the M
subsets, with a percentile bootstrap CI over subsets. One retraining set serves every scores table (scope, solver)
compared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from molpeft_cli.errors import MolpeftError, SettingError

# What a retraining record was made with: records of another procedure (before the fine-tuning recipe: a bare
# AdamW without warmup) are refused rather than mixed with this one's losses.
RETRAINING_PROCEDURE = "finetune-recipe"

CHECK_COLUMNS: dict = {  # polars dtypes by name, so this module needs no polars at import
    "scores": "String", "scope": "String", "solver": "String", "damping": "Float64", "n_params": "Int64",
    "converged": "Boolean", "lds": "Float64", "ci_low": "Float64", "ci_high": "Float64", "subsets": "Int64",
    "fraction": "Float64", "epochs": "Int64",
}


@dataclass
class CheckConfig:
    subsets: int = field(default=20, metadata={"help": "M: random pool subsets retrained"})
    fraction: float = field(default=0.5, metadata={"help": "fraction of the pool in each subset"})
    epochs: int = field(default=1, metadata={"help": "epochs of training from the checkpoint per subset"})
    lr: float | None = field(default=None, metadata={"help": "learning rate (default: the checkpoint's)"})
    bootstrap: int = field(default=2000, metadata={"help": "bootstrap resamples of the subsets for the CI"})
    seed: int = field(default=0, metadata={"help": "seed of the subsets, the training order and the bootstrap"})

    def __post_init__(self) -> None:
        if self.subsets < 3:
            raise SettingError("subsets", f"{{setting}} must be >= 3 (a rank correlation needs them), got "
                               f"{self.subsets}")
        if not 0 < self.fraction < 1:
            raise SettingError("fraction", f"{{setting}} must be in (0, 1), got {self.fraction}")
        if self.epochs < 1:
            raise SettingError("epochs", f"{{setting}} must be >= 1, got {self.epochs}")
        if self.lr is not None and not self.lr > 0:
            raise SettingError("lr", f"{{setting}} must be > 0, got {self.lr}")
        if self.bootstrap < 100:
            raise SettingError("bootstrap", f"{{setting}} must be >= 100, got {self.bootstrap}")

    def to_dict(self) -> dict:
        return asdict(self)


def draw_subsets(n_pool: int, subsets: int, fraction: float, seed: int) -> np.ndarray:
    """(M, n_pool) boolean membership; each subset holds round(fraction * n_pool) molecules (at least 1)."""
    size = max(1, round(fraction * n_pool))
    if size >= n_pool:
        raise SettingError("fraction", f"a subset of {size} of {n_pool} pool molecules leaves nothing out; lower "
                           "{setting}")
    rng = np.random.default_rng(seed)
    members = np.zeros((subsets, n_pool), dtype=bool)
    for j in range(subsets):
        members[j, rng.choice(n_pool, size=size, replace=False)] = True
    return members


def predicted_changes(scores: np.ndarray, members: np.ndarray, n_train: int) -> np.ndarray:
    """First-order change of the validation loss when each subset is added: -sum of its scores / n_train."""
    return -(members.astype(np.float64) @ np.asarray(scores, dtype=np.float64)) / n_train


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y)[0])


def lds(predicted: np.ndarray, measured: np.ndarray, bootstrap: int = 2000, seed: int = 0,
        level: float = 0.95) -> tuple[float, float, float]:
    """(LDS, CI low, CI high): Spearman of predicted vs measured changes, percentile bootstrap over subsets."""
    predicted, measured = np.asarray(predicted, float), np.asarray(measured, float)
    if predicted.shape != measured.shape or predicted.ndim != 1:
        raise MolpeftError("predicted and measured changes must be 1-D and of the same length")
    value = spearman(predicted, measured)
    rng = np.random.default_rng(seed)
    m = len(predicted)
    draws = []
    for _ in range(bootstrap):
        idx = rng.integers(0, m, m)
        rho = spearman(predicted[idx], measured[idx])
        if math.isfinite(rho):
            draws.append(rho)
    if not draws:
        return value, float("nan"), float("nan")
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return value, float(low), float(high)


@dataclass
class Retraining:
    """Validation losses after training from the checkpoint on train alone and on train + each subset."""

    members: np.ndarray  # (M, n_pool) bool
    base_loss: float  # train alone, trained the same way
    start_loss: float  # the checkpoint as it is
    losses: np.ndarray  # (M,)
    n_train: int
    seconds: float

    @property
    def measured(self) -> np.ndarray:
        return self.losses - self.base_loss


def retrain_subsets(checkpoint: str, split, pool, config: CheckConfig, progress=None, jobs: int = 1) -> Retraining:
    """Train the checkpoint on train + each subset (and on train alone) and measure the validation loss
    (MSE on labels standardised with the checkpoint's scale: the loss influence scores refer to).

    `jobs` > 1 spreads the retrainings over that many worker processes of one thread each; every retraining
    starts from the checkpoint with its own seeds, so the losses are the same for any `jobs`.
    """
    import time

    from molpeft_cli.training.finetune_job import gather_training_data

    if "split" not in split.columns:
        raise SettingError("train", "{setting} needs a split table (with a `split` column)")
    if pool["label"].null_count():
        raise MolpeftError(f"{pool['label'].null_count()} pool molecules have no label; retraining needs labels")
    if jobs < 1:
        raise SettingError("jobs", f"{{setting}} must be >= 1, got {jobs}")
    gather_training_data(split, [pool], drop_leaking=False)  # refuses pools that hold valid/test compounds
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
                      int((split["split"] == "train").sum()), time.perf_counter() - started)


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

        from molpeft_cli.training.checkpoint import load_finetuned
        from molpeft_cli.training.regression import encode

        reference = load_finetuned(checkpoint)
        mean, std = reference.label_mean, reference.label_std
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
        return float(np.mean((pred - self.z_valid) ** 2))

    def loss_after(self, rows: np.ndarray | None) -> float:
        self.model.load_state_dict(self.state)
        chosen = np.flatnonzero(rows) if rows is not None else np.zeros(0, dtype=int)
        continue_training(self.model, self.train_ids, self.z_train, [self.pool_ids[i] for i in chosen],
                          self.z_pool[chosen], self.tokenizer.pad_token_id, recipe=self.recipe,
                          epochs=self.config.epochs, seed=self.config.seed, train_features=self.f_train,
                          extra_features=None if self.f_pool is None else self.f_pool[chosen])
        loss = self.valid_loss()
        self.model.load_state_dict(self.state)
        return loss


def recorded_recipe(options: dict, lr: float | None = None):
    """The fine-tuning recipe (FinetuneOptions) a checkpoint's finetune.json `options` record, `lr` overriding its
    rate. A checkpoint from before the warmup setting existed was trained without one."""
    from dataclasses import fields, replace

    from molpeft_cli.training.options import FinetuneOptions

    known = {f.name for f in fields(FinetuneOptions)}
    recipe = FinetuneOptions(**{"warmup_epochs": 0.0, **{k: v for k, v in options.items() if k in known}})
    return replace(recipe, lr=lr) if lr is not None else recipe


def continue_training(model, train_ids, train_labels: np.ndarray, extra_ids, extra_labels: np.ndarray,
                      pad_id: int, *, recipe, epochs: int, seed: int, train_features: np.ndarray | None = None,
                      extra_features: np.ndarray | None = None) -> None:
    """Fine-tuning's step under `recipe` (a resolved FinetuneOptions: the fine-tuning optimizer and its warmup,
    clipping, batch size, MSE on standardised labels, dropout on) from the model's current weights, with a fresh
    optimizer, over the training rows plus `extra` rows (`*_features`: their molecule features, for a head that
    takes them). The rate warms up over `recipe.warmup_epochs` of this run's steps and then stays at the base rate:
    the plateau decay needs a validation between epochs, which the retraining does not run.

    Common random numbers: the training rows are batched exactly as in the train-only run (same order, same
    dropout draws: the generator is reseeded per batch), and the extra rows come in their own batches spread
    evenly between them, so two runs differ only by the extra rows, not by the batch order's noise.
    """
    import torch

    from molpeft_cli.model.heads import regression_loss
    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.optim import finetune_optimizer

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
            loss = regression_loss(out.logits, batch.labels)
            if not torch.isfinite(loss):
                raise SettingError("lr", f"retraining diverged (loss {loss.item()}); lower {{setting}}")
            loss.backward()
            if recipe.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable, recipe.grad_clip)
            optimizer.step()
            schedule.step()
    model.eval()


def check_rows(retraining: Retraining, scores: dict[str, np.ndarray], settings: dict[str, dict],
               config: CheckConfig) -> list[dict]:
    """One row per scores table: its setting, LDS and CI, and the check's own settings."""
    rows = []
    for name, values in scores.items():
        predicted = predicted_changes(values, retraining.members, retraining.n_train)
        value, low, high = lds(predicted, retraining.measured, config.bootstrap, config.seed)
        setting = settings.get(name, {})
        rows.append({
            "scores": name,
            "scope": str(setting.get("params", "")),
            "solver": str(setting.get("solver", "")),
            "damping": float(setting["damping"]) if setting.get("damping") is not None else float("nan"),
            "n_params": int(setting.get("n_params", 0)),
            "converged": bool(setting.get("converged", True)),
            "lds": value,
            "ci_low": low,
            "ci_high": high,
            "subsets": config.subsets,
            "fraction": config.fraction,
            "epochs": config.epochs,
        })
    return rows


def save_retraining(path, retraining: Retraining, config: CheckConfig, checkpoint: str) -> None:
    """Record a retraining (JSON, atomic) so later checks of other scores reuse it instead of retraining."""
    import json
    from pathlib import Path

    from molpeft_cli.data.atomic import atomic_path

    record = {"procedure": RETRAINING_PROCEDURE, "checkpoint": str(checkpoint), "config": config.to_dict(),
              "n_pool": int(retraining.members.shape[1]),
              "members": [np.flatnonzero(m).tolist() for m in retraining.members],
              "base_loss": retraining.base_loss, "start_loss": retraining.start_loss,
              "losses": retraining.losses.tolist(), "n_train": retraining.n_train, "seconds": retraining.seconds}
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
                      np.asarray(record["losses"], dtype=float), int(record["n_train"]), float(record["seconds"]))
