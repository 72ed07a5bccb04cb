"""Stage-1 masked-language-model training of a MoLFormer on SMILES, with an optional auxiliary objective that predicts
z-scored RDKit descriptors from the masked-mean pooled output (as MolBERT did).

`prepare_mlm_data` encodes a corpus and splits off the held-out part; `MLMTrainer.train` runs (or resumes) the loop:
seeded masking per step, AdamW, warmup + decay, clipping, held-out evaluation with early stopping, a wall-clock
budget, and resumable saves via `molpeft_cli.training.mlm_state`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from molpeft_cli.chem.descriptors import DESCRIPTORS, cached_descriptors, zscore_stats
from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.heads import chosen_token_loss
from molpeft_cli.progress import ProgressFactory
from molpeft_cli.training.batching import collate, make_batches
from molpeft_cli.training.corpus import holdout_split
from molpeft_cli.training.distributed import DistContext
from molpeft_cli.training.loop import EarlyStopping, snapshot
from molpeft_cli.training.masking import IGNORE_INDEX, MaskingSpec, mask_tokens, step_generator
from molpeft_cli.training.mlm_config import MLMConfig
from molpeft_cli.training.mlm_state import SavedRun, TrainerState, restore_training, resume_dir, write_run
from molpeft_cli.training.optim import build_adamw
from molpeft_cli.training.schedule import build_scheduler, warmup_steps_for

log = logging.getLogger(__name__)

STATUS_EVERY_S = 120
HELDOUT_STREAM = 7  # the held-out masks come from their own seeded stream, fixed for the whole run
# the held-out loss is a mean over its masked tokens: below this many it moves more with which tokens were masked
# than with the model, so early stopping on it is warned about and the run's data summary marks it
MIN_HELDOUT_MASKED_TOKENS = 100


class DescriptorHead(nn.Module):
    """pooled encoder output -> Linear -> GELU -> Linear -> one value per descriptor (z-scored)."""

    def __init__(self, hidden_size: int, n_outputs: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_size, width), nn.GELU(), nn.Linear(width, n_outputs))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


@dataclass
class MLMData:
    """Encoded training and held-out molecules, with z-scored descriptor targets when the objective is on."""

    train_ids: list[list[int]]
    heldout_ids: list[list[int]]
    train_targets: np.ndarray | None
    heldout_targets: np.ndarray | None
    descriptor_mean: np.ndarray | None
    descriptor_sd: np.ndarray | None
    summary: dict[str, Any]


def corpus_fingerprint(smiles: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(smiles).encode()).hexdigest()


def prepare_mlm_data(
    smiles: Sequence[str],
    tokenizer,
    config: MLMConfig,
    *,
    descriptor_cache: str | Path | None = None,
    descriptor_values: np.ndarray | None = None,
    encoded=None,
    workers: int = 1,
    progress: ProgressFactory | None = None,
) -> MLMData:
    """Encode (cutting molecules longer than the model's positions, and counting them), split off the seeded
    held-out part, and compute descriptor targets (z-scored with the training part's statistics).
    `descriptor_values` ([n, len(DESCRIPTORS)], NaN where unknown) replaces computing them with RDKit; rows that are
    all NaN get no descriptor target. `encoded` (an `EncodedSmiles` of `smiles` with truncation) skips encoding."""
    from molpeft_cli.model import encode_smiles

    if len(smiles) < 2:
        raise MolpeftError(f"mlm needs at least 2 molecules (one to train on, one held out); got {len(smiles)}")
    if encoded is None:
        encoded = encode_smiles(tokenizer, list(smiles), truncate=True)
    elif len(encoded.input_ids) != len(smiles):
        raise MolpeftError(f"{len(encoded.input_ids)} encoded molecules for {len(smiles)} SMILES")
    summary = encoded.summary()
    if summary["unknown_tokens"]:
        shown = ", ".join(f"{t} ({n})" for t, n in list(summary["unknown_token_counts"].items())[:8])
        log.info(f"{summary['molecules_with_unknown_tokens']} molecules have tokens outside the vocabulary "
             f"(<unk>): {shown}")
    if summary["truncated"]:
        log.info(f"{summary['truncated']} molecules are longer than {encoded.max_length} tokens: cut")
    train_pos, held_pos = holdout_split(len(smiles), config.holdout, config.seed)
    train_ids = [encoded.input_ids[i] for i in train_pos]
    heldout_ids = [encoded.input_ids[i] for i in held_pos]
    summary.update(train_molecules=len(train_ids), heldout_molecules=len(heldout_ids),
                   corpus_sha256=corpus_fingerprint(smiles))
    train_targets = heldout_targets = mean = sd = None
    if config.descriptor_weight > 0:
        if descriptor_values is not None:
            values = np.asarray(descriptor_values, dtype=np.float64)
            if values.shape != (len(smiles), len(DESCRIPTORS)):
                raise MolpeftError(f"descriptor values have shape {values.shape}; expected "
                                   f"({len(smiles)}, {len(DESCRIPTORS)})")
        else:
            values = _descriptor_values(smiles, descriptor_cache, workers, progress)
        mean, sd = zscore_stats(values[train_pos])
        z = (values - mean) / sd
        train_targets, heldout_targets = z[train_pos].astype(np.float32), z[held_pos].astype(np.float32)
        unparsable = int(np.isnan(values).all(axis=1).sum())
        summary["descriptor_unparsable"] = unparsable
        if unparsable:
            what = "have no precomputed descriptors" if descriptor_values is not None else \
                "could not be parsed by RDKit"
            log.info(f"{unparsable} SMILES {what}: no descriptor targets for them")
    return MLMData(train_ids, heldout_ids, train_targets, heldout_targets, mean, sd, summary)


def _descriptor_values(smiles: Sequence[str], cache: str | Path | None, workers: int,
                       progress: ProgressFactory | None = None) -> np.ndarray:
    started = time.monotonic()
    with (progress or _no_progress)("descriptors", len(smiles), 0) as bar:
        values, computed = cached_descriptors(smiles, cache, workers=workers, progress=bar.update)
    log.info(f"descriptors: {len(smiles) - computed} from the cache, {computed} computed "
         f"({time.monotonic() - started:.0f} s){f'; cache {cache}' if cache else ''}")
    return values


def build_optimizer(model: nn.Module, head: nn.Module | None, config: MLMConfig) -> torch.optim.Optimizer:
    """The package's AdamW over the model's trainable tensors and then the descriptor head's."""
    return build_adamw([model] if head is None else [model, head], config.lr, config.weight_decay)


def mlm_losses(model, head, input_ids, attention_mask, labels, targets, weight: float,
               global_counts: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
    """MLM cross-entropy over chosen positions (the LM head runs only there), masked-token hits, and the
    descriptor MSE over finite targets; `loss` = mlm + weight * descriptor.

    `global_counts` (chosen positions, finite targets) of the whole global batch, for a data-parallel rank that
    holds part of it: the losses are then this rank's sums divided by those counts (its share of the global mean)."""
    encoded = model.molformer(input_ids=input_ids, attention_mask=attention_mask)
    chosen = labels != IGNORE_INDEX
    n_chosen = chosen.sum()
    if int(n_chosen) > 0:
        logits = model.lm_head(encoded.last_hidden_state[chosen]).float()
        gold = labels[chosen]
        mlm = chosen_token_loss(logits, gold)
        if global_counts is not None:
            mlm = mlm * (gold.numel() / max(global_counts[0], 1))
        correct = (logits.argmax(dim=-1) == gold).sum()
    elif global_counts is not None:  # a rank with nothing chosen: the LM head still joins DDP's gradient sync
        mlm = model.lm_head(encoded.last_hidden_state[:, :1]).float().sum() * 0.0
        correct = torch.zeros((), dtype=torch.long)
    else:  # a batch with nothing chosen (tiny inputs): no MLM signal, but keep the graph for the descriptor loss
        mlm = encoded.last_hidden_state.sum() * 0.0
        correct = torch.zeros((), dtype=torch.long)
    out = {"mlm": mlm, "correct": correct, "chosen": n_chosen, "loss": mlm}
    if head is not None and targets is not None:
        prediction = head(encoded.pooler_output).float()
        finite = torch.isfinite(targets)
        diff = torch.where(finite, prediction - torch.nan_to_num(targets), torch.zeros_like(prediction))
        if global_counts is not None:
            descriptor = (diff**2).sum() / max(global_counts[1], 1)
        else:
            descriptor = (diff**2).sum() / finite.sum().clamp(min=1)
        out["descriptor"] = descriptor
        out["loss"] = mlm + weight * descriptor
    return out


class MLMObjective(nn.Module):
    """The model and the descriptor head as one module whose forward is `mlm_losses`, so that DistributedDataParallel
    sees every trained parameter in one forward call (the loss calls submodules of the model directly)."""

    def __init__(self, model, head: nn.Module | None, weight: float) -> None:
        super().__init__()
        self.model, self.head, self.weight = model, head, weight

    def forward(self, input_ids, attention_mask, labels, targets, global_counts):
        return mlm_losses(self.model, self.head, input_ids, attention_mask, labels, targets, self.weight,
                          global_counts)


class MLMTrainer:
    """One MLM run: call `train()`; pass `saved` to continue a run from its trainer_state."""

    def __init__(
        self,
        model,
        tokenizer,
        data: MLMData,
        config: MLMConfig,
        out_dir: str | Path,
        *,
        saved: SavedRun | None = None,
        data_info: dict[str, Any] | None = None,
        clock_start: float | None = None,
        on_step: Callable[[int], None] | None = None,
        device: str | torch.device = "cpu",
        progress: ProgressFactory | None = None,
        dist: DistContext | None = None,
    ) -> None:
        self.progress = progress  # draws a bar; without one, a status line is logged every STATUS_EVERY_S
        self.dist = dist or DistContext(device=str(device))  # under torchrun: this rank (its device wins)
        self.device = torch.device(self.dist.device if dist is not None else device)
        self.model, self.tokenizer, self.data, self.config = model.to(self.device), tokenizer, data, config
        self.out_dir = Path(out_dir)
        self.on_step = on_step
        self.clock_start = time.monotonic() if clock_start is None else clock_start
        self.data_info = dict(data_info or {}, **{k: data.summary[k] for k in (
            "train_molecules", "heldout_molecules", "corpus_sha256")})
        self.spec = MaskingSpec.for_tokenizer(tokenizer, config.mask_prob, config.mask_token_frac,
                                              config.random_token_frac)
        self.pad_id = int(tokenizer.pad_token_id)
        self.lengths = [len(s) for s in data.train_ids]
        self.batches_per_epoch = math.ceil(len(data.train_ids) / config.batch_size)
        horizon = config.epochs * self.batches_per_epoch
        self.total_steps = min(config.max_steps, horizon) if config.max_steps else horizon
        self.eval_every = config.eval_every or self.batches_per_epoch
        self.head = None
        if config.descriptor_weight > 0:
            torch.manual_seed(config.seed + 1)
            self.head = DescriptorHead(model.config.hidden_size, len(DESCRIPTORS), config.descriptor_hidden)
            self.head.to(self.device)
        self.optimizer = build_optimizer(model, self.head, config)
        warmup = warmup_steps_for(self.total_steps, config.warmup)
        self.scheduler = build_scheduler(self.optimizer, self.total_steps, warmup, config.schedule)
        self.state = TrainerState(data_seed=config.seed)
        self.best: dict[str, Any] | None = None
        if saved is not None:
            self.best = restore_training(saved, self.head, self.optimizer, self.scheduler)
            self.state = saved.state
        self.last_saved_step: int | None = saved.state.step if saved is not None else None
        self.heldout_batches = self._heldout_batches()
        self._check_heldout_sample()
        self._epoch_cache: tuple[int, list[list[int]]] | None = None
        self.parallel = self.dist.wrap(MLMObjective(self.model, self.head, config.descriptor_weight)) \
            if self.dist.distributed else None

    # -- data ---------------------------------------------------------------------------------------------------
    def _heldout_batches(self) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        ids = self.data.heldout_ids
        generator = step_generator(self.config.seed, 0, (HELDOUT_STREAM,))
        batches = []
        for indices in make_batches([len(s) for s in ids], self.config.batch_size, shuffle=False):
            input_ids, mask = collate([ids[i] for i in indices], self.pad_id)
            masked, labels = mask_tokens(input_ids, mask, self.spec, generator)
            batches.append((masked, mask, labels, self._targets(self.data.heldout_targets, indices)))
        return batches

    def _check_heldout_sample(self) -> None:
        """The held-out estimate's sample: no masked token is refused (a loss of 0 that early stopping would
        trust); fewer than MIN_HELDOUT_MASKED_TOKENS is warned about and marked in the data summary (the keys
        `heldout_masked_tokens` and `heldout_below_minimum`, only then, so other runs' records stay as they were)."""
        from molpeft_cli.errors import SettingError

        if not self.data.heldout_ids:
            return  # holdout 0: no held-out loss asked for
        masked = sum(int((labels != IGNORE_INDEX).sum()) for _, _, labels, _ in self.heldout_batches)
        molecules = len(self.data.heldout_ids)
        if masked == 0:
            raise SettingError("holdout", f"the held-out part ({{setting}} {self.config.holdout:g}: {molecules} "
                               f"molecule{'s' if molecules != 1 else ''}) has no masked token, so there is no "
                               "held-out loss to report or stop early on; hold out more molecules (at least "
                               f"{MIN_HELDOUT_MASKED_TOKENS} masked tokens, e.g. {{setting}} 0.05 of a larger "
                               "corpus), or {setting} 0 for none")
        if masked < MIN_HELDOUT_MASKED_TOKENS:
            log.warning(SettingError("holdout", f"the held-out loss is measured on {masked} masked tokens of "
                                     f"{molecules} molecules, fewer than {MIN_HELDOUT_MASKED_TOKENS}: it is noisy, "
                                     "and so is early stopping on it (marked in the manifest); hold out more "
                                     "({setting})"))
            self.data.summary.update(heldout_masked_tokens=masked, heldout_below_minimum=True)

    def _targets(self, table: np.ndarray | None, indices: list[int]) -> torch.Tensor | None:
        if table is None or self.head is None:
            return None
        return torch.from_numpy(table[indices])

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            seed = self.state.data_seed * 1_000_003 + epoch
            self._epoch_cache = (epoch, make_batches(self.lengths, self.config.batch_size, shuffle=True, seed=seed))
        return self._epoch_cache[1]

    # -- steps --------------------------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16)

    def _to_device(self, *tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Masks are drawn on the CPU (the same on every device); the batch then moves to the model's device."""
        if self.device.type == "cpu":
            return list(tensors)
        return [None if t is None else t.to(self.device, non_blocking=True) for t in tensors]

    def train_step(self, indices: list[int]) -> dict[str, float]:
        config, step = self.config, self.state.step
        # dropout of this step, whatever ran before (each data-parallel rank draws its own)
        torch.manual_seed(self.dist.rank_seed(config.seed * 1_000_003 + step + 1))
        input_ids, mask = collate([self.data.train_ids[i] for i in indices], self.pad_id)
        masked, labels = mask_tokens(input_ids, mask, self.spec, step_generator(config.seed, step))
        targets = self._targets(self.data.train_targets, indices)
        if self.dist.distributed:
            return self._parallel_step(indices, masked, mask, labels, targets)
        masked, mask, labels, targets = self._to_device(masked, mask, labels, targets)
        self.model.train()
        if self.head is not None:
            self.head.train()
        with self._autocast():
            out = mlm_losses(self.model, self.head, masked, mask, labels, targets, config.descriptor_weight)
        out["loss"].backward()
        return self._finish_step(out, len(indices))

    def _parallel_step(self, indices, masked, mask, labels, targets) -> dict[str, float]:
        """One data-parallel step: every rank masked the same global batch; this rank trains on its rows, with its
        losses divided by the global counts, so that DDP's gradient average is the single-process gradient."""
        counts = (int((labels != IGNORE_INDEX).sum()), 0 if targets is None else int(torch.isfinite(targets).sum()))
        shard = self.dist.shard(len(indices))
        masked, mask, labels = masked[shard.rows], mask[shard.rows], labels[shard.rows].clone()
        targets = None if targets is None else targets[shard.rows].clone()
        if not bool(shard.weights.all()):  # a stand-in row keeps this rank in step; it counts for nothing
            labels[:] = IGNORE_INDEX
            if targets is not None:
                targets[:] = float("nan")
        masked, mask, labels, targets = self._to_device(masked, mask, labels, targets)
        self.parallel.train()
        with self._autocast():
            out = self.parallel(masked, mask, labels, targets, counts)
        (out["loss"] * self.dist.world_size).backward()
        local = torch.stack([out["loss"].detach().double().cpu(), out["mlm"].detach().double().cpu(),
                             out.get("descriptor", torch.zeros(())).detach().double().cpu(),
                             out["correct"].double().cpu()])
        summed = self.dist.all_sum(local)
        out = {"loss": summed[0], "mlm": summed[1], "correct": summed[3], "chosen": torch.tensor(counts[0])}
        if self.head is not None:
            out["descriptor"] = summed[2]
        return self._finish_step(out, len(indices))

    def _finish_step(self, out: dict[str, torch.Tensor], molecules: int) -> dict[str, float]:
        config = self.config
        if config.max_grad_norm > 0:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        values = {k: float(v.detach()) for k, v in out.items()}
        return {"loss": values["loss"], "mlm": values["mlm"], "descriptor": values.get("descriptor", 0.0),
                "correct": values["correct"], "chosen": values["chosen"], "molecules": float(molecules)}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        if self.head is not None:
            self.head.eval()
        sums = {"ce": 0.0, "correct": 0.0, "chosen": 0.0, "sse": 0.0, "finite": 0.0}
        # data-parallel ranks each take every world_size-th held-out batch, then the sums are added up
        for batch in self.heldout_batches[self.dist.rank::self.dist.world_size]:
            masked, mask, labels, targets = self._to_device(*batch)
            with self._autocast():
                out = mlm_losses(self.model, self.head, masked, mask, labels, targets, self.config.descriptor_weight)
            chosen = float(out["chosen"])
            sums["ce"] += float(out["mlm"]) * chosen
            sums["chosen"] += chosen
            sums["correct"] += float(out["correct"])
            if "descriptor" in out:
                finite = float(torch.isfinite(targets).sum())
                sums["sse"] += float(out["descriptor"]) * max(finite, 1.0)
                sums["finite"] += finite
        if self.dist.distributed:
            summed = self.dist.all_sum(torch.tensor(list(sums.values()), dtype=torch.float64)).tolist()
            sums = dict(zip(sums, summed, strict=True))
        mlm = sums["ce"] / max(sums["chosen"], 1.0)
        result = {"heldout_mlm_loss": mlm, "heldout_accuracy": sums["correct"] / max(sums["chosen"], 1.0)}
        loss = mlm
        if self.head is not None:
            descriptor = sums["sse"] / max(sums["finite"], 1.0)
            result["heldout_descriptor_loss"] = descriptor
            loss = mlm + self.config.descriptor_weight * descriptor
        result["heldout_loss"] = loss
        return result

    # -- bookkeeping --------------------------------------------------------------------------------------------
    def _seconds(self) -> float:
        return self.state.seconds + time.monotonic() - self._resumed_at

    def _accumulate(self, stats: dict[str, float]) -> None:
        window = self.state.window
        for key, value in stats.items():
            window[key] = window.get(key, 0.0) + value
        window["steps"] = window.get("steps", 0.0) + 1

    def _log_eval(self) -> bool:
        """Evaluate, append a log row, update the best weights; True when early stopping says stop."""
        state, window = self.state, self.state.window
        row: dict[str, Any] = {"step": state.step, "epoch": state.epoch}
        steps = window.get("steps", 0.0)
        if steps:
            row.update(train_loss=window["loss"] / steps, train_mlm_loss=window["mlm"] / steps,
                       train_accuracy=window["correct"] / max(window["chosen"], 1.0))
            if self.head is not None:
                row["train_descriptor_loss"] = window["descriptor"] / steps
        stop = False
        if self.heldout_batches:
            row.update(self.evaluate())
            stopping = EarlyStopping(self.config.patience, zero_disables=True, best=state.best_loss,
                                     best_step=state.best_step, bad=state.bad_evals)
            if stopping.update(row["heldout_loss"], state.step):
                self.best = {"model": snapshot(self.model), "head": None if self.head is None else snapshot(self.head)}
            state.best_loss, state.best_step, state.bad_evals = stopping.best, stopping.best_step, stopping.bad
            stop = stopping.should_stop()
        seconds = self._seconds()
        row.update(lr=self.scheduler.get_last_lr()[0], seconds=seconds,
                   molecules_per_second=window.get("molecules", 0.0) / max(seconds - window.get("t0", 0.0), 1e-9))
        state.log.append(row)
        state.last_eval_step = state.step
        state.window = {"t0": seconds}
        self._print_row(row)
        return stop

    def _print_row(self, row: dict[str, Any]) -> None:
        parts = [f"step {row['step']}/{self.total_steps}", f"epoch {row['epoch']}"]
        if row.get("train_loss") is not None:
            parts.append(f"train loss {row['train_loss']:.4f} (acc {row['train_accuracy']:.3f})")
        if row.get("heldout_loss") is not None:
            parts.append(f"held-out loss {row['heldout_loss']:.4f} (mlm {row['heldout_mlm_loss']:.4f}, "
                         f"acc {row['heldout_accuracy']:.3f})")
        if row.get("heldout_descriptor_loss") is not None:
            parts.append(f"descriptor mse {row['heldout_descriptor_loss']:.4f}")
        parts.append(f"{row['molecules_per_second']:.0f} mol/s, {row['seconds'] / 60:.1f} min")
        log.info(", ".join(parts))

    def save(self, finished: bool = False) -> None:
        self.state.seconds = self._seconds()
        self._resumed_at = time.monotonic()
        head_meta = None
        if self.head is not None:
            head_meta = {
                "descriptors": list(DESCRIPTORS), "mean": self.data.descriptor_mean.tolist(),
                "sd": self.data.descriptor_sd.tolist(), "input": "masked-mean pooled encoder output",
                "layers": f"Linear({self.model.config.hidden_size}, {self.config.descriptor_hidden}) -> GELU -> "
                          f"Linear({self.config.descriptor_hidden}, {len(DESCRIPTORS)})",
                "weight": self.config.descriptor_weight,
            }
        if not self.dist.is_main:  # only rank 0 writes
            self.last_saved_step = self.state.step
            return
        # unfinished saves go to OUTPUT.resume/; the output itself is written once, finished, with the best weights
        target = self.out_dir if finished else resume_dir(self.out_dir)
        write_run(target, model=self.model, tokenizer=self.tokenizer, head=self.head, head_meta=head_meta,
                  optimizer=self.optimizer, scheduler=self.scheduler, state=self.state,
                  config=self.config.to_dict(), data=self.data_info, best=self.best, publish_best=finished)
        if finished:
            shutil.rmtree(resume_dir(self.out_dir), ignore_errors=True)
        self.last_saved_step = self.state.step
        log.debug(f"saved step {self.state.step} to {target}")

    # -- the loop -----------------------------------------------------------------------------------------------
    def train(self) -> TrainerState:
        try:
            return self._train()
        except KeyboardInterrupt:
            saved = resume_dir(self.out_dir)
            where = (f"the last save (step {self.last_saved_step}) is in {saved}; resume continues from it"
                     if self.last_saved_step is not None and (saved / "trainer_state").is_dir() else
                     "nothing was saved yet")
            log.info(f"mlm interrupted at step {self.state.step}: {self.out_dir} was not written; {where}")
            raise
        finally:
            # drop the DistributedDataParallel wrapper while the process group is alive: freed after `shutdown()`,
            # its reducer holds the last reference to the gloo group, whose destructor joins a worker thread that
            # needs the GIL the destructor holds (a deadlock at exit, seen on a 2-core machine)
            self.parallel = None

    def _train(self) -> TrainerState:
        state, config = self.state, self.config
        self._resumed_at = time.monotonic()
        if state.finished:
            log.info(f"the run in {self.out_dir} has already finished ({state.stop_reason}); nothing to do")
            return state
        if state.step:
            log.info(f"resuming at step {state.step} (epoch {state.epoch})")
        deadline = self.clock_start + config.max_minutes * 60 if config.max_minutes else math.inf
        state.window.setdefault("t0", self._seconds())
        stop_reason = ""
        last_status = time.monotonic()
        with (self.progress or _no_progress)("mlm", self.total_steps, state.step) as bar:
            while not stop_reason:
                if state.step >= self.total_steps:
                    stop_reason = "max steps" if config.max_steps and self.total_steps == config.max_steps \
                        else "epochs"
                    break
                batches = self.epoch_batches(state.epoch)
                if state.batch_in_epoch >= len(batches):
                    state.epoch += 1
                    state.batch_in_epoch = 0
                    continue
                if self._out_of_time(deadline):
                    stop_reason = "time budget"
                    break
                stats = self.train_step(batches[state.batch_in_epoch])
                state.step += 1
                state.batch_in_epoch += 1
                self._accumulate(stats)
                status = f"loss {stats['loss']:.3f} acc {stats['correct'] / max(stats['chosen'], 1):.3f}"
                bar.update(state.step, status)
                if self.progress is None and time.monotonic() - last_status >= STATUS_EVERY_S:
                    last_status = time.monotonic()  # logs (nohup, CI) get a line now and then instead of a bar
                    seconds = self._seconds()
                    rate = state.window.get("molecules", 0.0) / max(seconds - state.window.get("t0", 0.0), 1e-9)
                    log.info(f"step {state.step}/{self.total_steps}: {status}, {rate:.0f} mol/s, "
                             f"{seconds / 60:.1f} min")
                epoch_done = state.batch_in_epoch == len(batches)
                due = (state.step % self.eval_every == 0) if config.eval_every else epoch_done
                if due and self._log_eval():
                    stop_reason = "early stopping"
                if state.step % config.save_every == 0 and not stop_reason:
                    self.save()
                if self.on_step is not None:
                    self.on_step(state.step)
        state.stop_reason = stop_reason
        state.finished = stop_reason != "time budget"
        if state.finished and state.last_eval_step != state.step:
            self._log_eval()
        self.save(finished=state.finished)
        how = (f"stopped (time budget used; state saved in {resume_dir(self.out_dir)}, resuming continues it)"
               if not state.finished else f"done ({stop_reason})")
        best = f"; best held-out loss {state.best_loss:.4f} at step {state.best_step}" if state.best_loss else ""
        log.info(f"mlm {how} after {state.step} steps, {state.seconds / 60:.1f} min{best}")
        return state


    def _out_of_time(self, deadline: float) -> bool:
        """The time budget is used; data-parallel ranks stop together (when any of them sees the deadline)."""
        late = time.monotonic() >= deadline
        if not self.dist.distributed or math.isinf(deadline):
            return late
        return bool(self.dist.all_sum(torch.tensor([1.0 if late else 0.0], dtype=torch.float64))[0] > 0)


class _NoBar:
    def update(self, completed: int, status: str = "") -> None:
        pass


@contextlib.contextmanager
def _no_progress(name: str, total: int, completed: int = 0):
    yield _NoBar()
