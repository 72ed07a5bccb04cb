"""Writing and reading an MLM run's directories: the checkpoint (via the model package's `save_checkpoint`),
the descriptor head, the training log, and the resumable `trainer_state/` (weights, optimizer, scheduler, step,
epoch, RNG state).

Saves made while training go to `OUTPUT.resume/` beside the output (see `resume_dir`); the output directory itself
is written once, when the run finishes, with the best weights. So an interrupted (or time-budgeted) run leaves no
output at all, only its clearly named resumable state. Each directory is replaced atomically at each save, so an
interruption leaves the previous save whole."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from molpeft_cli.data.atomic import atomic_dir
from molpeft_cli.errors import MolpeftError

STATE_DIR = "trainer_state"
STATE_FILE = "state.json"
LAST_WEIGHTS = "model_last.safetensors"
BEST_WEIGHTS = "model_best.safetensors"
HEAD_FILE = "descriptor_head.safetensors"
HEAD_META = "descriptor_head.json"
LAST_HEAD = "descriptor_head_last.safetensors"
BEST_HEAD = "descriptor_head_best.safetensors"
LOG_FILE = "training_log.parquet"
LOG_SCHEMA = {
    "step": "int64", "epoch": "int64", "train_loss": "float64", "train_mlm_loss": "float64",
    "train_descriptor_loss": "float64", "train_accuracy": "float64", "heldout_loss": "float64",
    "heldout_mlm_loss": "float64", "heldout_accuracy": "float64", "heldout_descriptor_loss": "float64",
    "lr": "float64", "seconds": "float64", "molecules_per_second": "float64",
}


@dataclass
class TrainerState:
    """Where a run is: everything besides tensors needed to continue it exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    data_seed: int = 0
    best_loss: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    last_eval_step: int = 0
    seconds: float = 0.0
    finished: bool = False
    stop_reason: str = ""
    window: dict[str, float] = field(default_factory=dict)  # train sums since the last evaluation
    log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SavedRun:
    state: TrainerState
    config: dict[str, Any]
    data: dict[str, Any]
    directory: Path


def _tensors(module: torch.nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = module if isinstance(module, dict) else module.state_dict()
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_log(rows: list[dict[str, Any]], path: Path) -> None:
    """The training log as Parquet, written with pyarrow (no polars: pretraining also runs on GPU machines that
    lack it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {k: pa.array([row.get(k) for row in rows], type=getattr(pa, kind)()) for k, kind in LOG_SCHEMA.items()}
    pq.write_table(pa.table(columns), path)


def write_run(
    out_dir: Path,
    *,
    model,
    tokenizer,
    head: torch.nn.Module | None,
    head_meta: dict[str, Any] | None,
    optimizer,
    scheduler,
    state: TrainerState,
    config: dict[str, Any],
    data: dict[str, Any],
    best: dict[str, dict[str, torch.Tensor]] | None,
    publish_best: bool,
) -> None:
    """Replace `out_dir` with the run as it is now. The top-level weights are the current ones, or the best
    (lowest held-out loss) when `publish_best`; trainer_state/ always holds the current ones for resuming."""
    from molpeft_cli.model.loading import save_checkpoint

    last_model = _tensors(model)
    last_head = _tensors(head) if head is not None else None
    with atomic_dir(out_dir) as tmp:
        state_dir = tmp / STATE_DIR
        state_dir.mkdir()
        save_file(last_model, state_dir / LAST_WEIGHTS)
        if last_head is not None:
            save_file(last_head, state_dir / LAST_HEAD)
        if best is not None:
            save_file(best["model"], state_dir / BEST_WEIGHTS)
            if best.get("head") is not None:
                save_file(best["head"], state_dir / BEST_HEAD)
        torch.save(optimizer.state_dict(), state_dir / "optimizer.pt")
        torch.save(scheduler.state_dict(), state_dir / "scheduler.pt")
        torch.save({"torch": torch.get_rng_state()}, state_dir / "rng.pt")
        payload = {"state": asdict(state), "config": config, "data": data}
        (state_dir / STATE_FILE).write_text(json.dumps(payload, indent=1) + "\n")

        use_best = publish_best and best is not None
        if use_best:
            model.load_state_dict(best["model"])
        try:
            staged = tmp / ".checkpoint"
            save_checkpoint(model, tokenizer, staged)
        finally:
            if use_best:
                model.load_state_dict(last_model)
        for item in staged.iterdir():
            os.replace(item, tmp / item.name)
        shutil.rmtree(staged)
        if head is not None:
            save_file(best["head"] if use_best and best.get("head") is not None else last_head, tmp / HEAD_FILE)
            (tmp / HEAD_META).write_text(json.dumps(head_meta, indent=1) + "\n")
        write_log(state.log, tmp / LOG_FILE)


RESUME_SUFFIX = ".resume"


def resume_dir(out_dir: str | os.PathLike) -> Path:
    """Where an unfinished run keeps its resumable saves: `OUTPUT.resume/` beside the output directory."""
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + RESUME_SUFFIX)


def saved_run_dir(out_dir: str | os.PathLike) -> Path | None:
    """The directory holding the run's latest save: the unfinished run's resume folder, else the finished
    output (whose trainer_state/ says it is finished); None when there is neither."""
    for candidate in (resume_dir(out_dir), Path(out_dir)):
        if (candidate / STATE_DIR / STATE_FILE).is_file():
            return candidate
    return None


def has_saved_run(out_dir: Path) -> bool:
    return saved_run_dir(out_dir) is not None


def read_run(out_dir: Path) -> SavedRun:
    out_dir = saved_run_dir(out_dir) or Path(out_dir)
    path = out_dir / STATE_DIR / STATE_FILE
    try:
        payload = json.loads(path.read_text())
        state = TrainerState(**payload["state"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MolpeftError(f"cannot resume from {path}: {exc}") from None
    return SavedRun(state, payload["config"], payload["data"], out_dir)


def load_saved_model(out_dir: Path):
    """The MLM model and tokenizer of a saved run, with its current (last) weights."""
    from molpeft_cli.model import MolformerForMaskedLM
    from molpeft_cli.model.loading import load_tokenizer, read_config

    out_dir = saved_run_dir(out_dir) or Path(out_dir)
    config = read_config(out_dir)
    tokenizer = load_tokenizer(out_dir, config.max_position_embeddings)
    model = MolformerForMaskedLM(config)
    weights = out_dir / STATE_DIR / LAST_WEIGHTS
    try:
        model.load_state_dict(load_file(weights), strict=True)
    except (OSError, RuntimeError, ValueError) as exc:  # safetensors' errors derive from these
        raise MolpeftError(f"cannot resume from {weights}: {str(exc).splitlines()[0][:200]}") from None
    return model, tokenizer


def restore_training(saved: SavedRun, head, optimizer, scheduler) -> dict[str, dict[str, torch.Tensor]] | None:
    """Load the head, optimizer, scheduler and RNG state of a saved run; return its best weights, if any."""
    state_dir = saved.directory / STATE_DIR
    if head is not None:
        head.load_state_dict(load_file(state_dir / LAST_HEAD), strict=True)
    optimizer.load_state_dict(torch.load(state_dir / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(state_dir / "scheduler.pt", weights_only=True))
    torch.set_rng_state(torch.load(state_dir / "rng.pt", weights_only=True)["torch"])
    if not (state_dir / BEST_WEIGHTS).is_file():
        return None
    best_head = state_dir / BEST_HEAD
    return {"model": load_file(state_dir / BEST_WEIGHTS),
            "head": load_file(best_head) if best_head.is_file() else None}
