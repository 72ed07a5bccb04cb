"""Fine-tuned checkpoint directories: what was trained, on which base, with which label scaling.

Layout: `finetune.json` (method, base model reference and hash, label scaling, counts, options),
`config.json` + `vocab.json` (the model as trained), the method's weights (`model.safetensors` for full
fine-tuning; `bitfit.safetensors`; peft's `adapter_config.json` + `adapter_model.safetensors`),
`training_log.parquet` and `manifest.json`; with `--features`, `features.safetensors` (the features' training
statistics, `molpeft_cli.chem.features`). PEFT checkpoints hold only what they trained and name their base.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from molpeft_cli.errors import MolpeftError

META_FILE = "finetune.json"


@dataclass
class BaseModelRef:
    ref: str  # as the user gave it: bundled name, directory, or hub id
    path: str  # the resolved directory (absolute) at training time
    sha256: str  # of the base checkpoint's files

    @classmethod
    def resolve(cls, name_or_path: str) -> BaseModelRef:
        from molpeft_cli.model.loading import resolve_checkpoint

        directory = resolve_checkpoint(name_or_path)
        return cls(str(name_or_path), str(Path(directory).resolve()), weights_sha256(directory))


def weights_sha256(directory: Path) -> str:
    """Hash of the files that define a base model (config, vocabulary, weights), not of logs or manifests."""
    import hashlib

    from molpeft_cli.data.manifest import sha256_file

    digest = hashlib.sha256()
    names = sorted(p.name for p in Path(directory).iterdir()
                   if p.suffix in (".json", ".safetensors", ".bin") and p.name not in ("manifest.json", META_FILE))
    for name in names:
        digest.update(name.encode())
        digest.update(sha256_file(Path(directory) / name).encode())
    return digest.hexdigest()


@dataclass
class FinetunedModel:
    model: nn.Module
    tokenizer: Any
    meta: dict[str, Any]
    features: Any = None  # chem.features.MoleculeFeatures when the head takes molecule features

    def featurize(self, smiles) -> np.ndarray | None:
        """The standardised molecule features the head needs for `smiles` (None for a head without them)."""
        return None if self.features is None else self.features.transform(list(smiles))

    @property
    def task(self) -> str:
        """regression or classification, as finetune.json records it (checkpoints from before it did: regression)."""
        return str(self.meta.get("task", "regression"))

    def to_prediction(self, raw) -> np.ndarray:
        """The head's raw outputs as this checkpoint's predictions (`task_prediction`)."""
        return task_prediction(self.task, raw, self.label_mean, self.label_std)

    @property
    def label_mean(self) -> float:
        return float(self.meta["label_scaling"]["mean"])

    @property
    def label_std(self) -> float:
        return float(self.meta["label_scaling"]["std"])


def task_prediction(task: str, raw, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """The one conversion from the head's raw output to the task's prediction: regression, the label scaling undone
    (`raw * std + mean`, original units); classification, the probability of the positive class (sigmoid of the
    logit)."""
    raw = np.asarray(raw, dtype=np.float64)
    if task == "classification":
        from scipy.special import expit

        return expit(raw)
    return raw * std + mean


def config_overrides(options: dict[str, Any], extra_features: int = 0) -> dict[str, Any]:
    """The model config a recipe sets: its dropouts, and the number of molecule features the head takes."""
    overrides = {
        "classifier_dropout_prob": options["classifier_dropout"],
        "embedding_dropout_prob": options["embedding_dropout"],
        "hidden_dropout_prob": options["hidden_dropout"],
    }
    if extra_features:
        overrides["extra_features"] = int(extra_features)
    return overrides


def save_finetuned(directory: Path, model: nn.Module, tokenizer, adapter, meta: dict[str, Any],
                   features=None) -> list[str]:
    """Write the method's weights, config, vocabulary, the features' statistics (when the head takes features)
    and finetune.json into `directory` (a temp dir)."""
    base = adapter.base_model(model)
    base.config.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    files = adapter.save(model, directory)
    if features is not None:
        features.save(directory)
        meta = {**meta, "features": meta.get("features") or features.describe()}
    (directory / META_FILE).write_text(json.dumps({**meta, "weights": files}, indent=2) + "\n")
    return files


def load_finetuned(directory: str | os.PathLike, device: str = "auto") -> FinetunedModel:
    """The fine-tuned model (eval mode, on `device`: auto takes CUDA when available), its tokenizer and meta."""
    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.model.loading import load_pretrained, load_tokenizer, read_config

    directory = Path(directory)
    meta_path = directory / META_FILE
    if directory.exists() and not directory.is_dir():
        raise MolpeftError(f"{directory} is a file, not a folder: give the fine-tuned checkpoint directory")
    if not directory.is_dir():
        raise MolpeftError(f"checkpoint directory not found: {directory}")
    if not meta_path.is_file():
        raise MolpeftError(f"{directory} is not a fine-tuned checkpoint (no {META_FILE}); "
                           "make one with `molpeft finetune`")
    meta = _read_meta(meta_path)
    features = None
    if meta.get("features"):
        from molpeft_cli.chem.features import MoleculeFeatures

        try:
            features = MoleculeFeatures.load(directory, meta["features"])
        except MolpeftError as exc:
            raise CheckpointError(str(exc)) from None
    adapter = REGISTRY.get(meta.get("peft", ""))
    if adapter is None:
        raise CheckpointError(f"{meta_path}: unknown method {meta.get('peft')!r}")
    weights = directory / adapter.weights_file
    if not weights.is_file():
        raise CheckpointError(f"{directory} lacks {adapter.weights_file}, the {meta['peft']} weights; the "
                              "checkpoint is incomplete")
    try:
        if meta["peft"] == "full":
            from molpeft_cli.model import MolformerForRegression

            model = MolformerForRegression(read_config(directory))
            model = adapter.restore(model, directory)
        else:
            base_dir = _find_base(meta["base_model"], directory)
            overrides = config_overrides(meta["options"], 0 if features is None else features.dim)
            loaded = _quiet_load(load_pretrained, base_dir, overrides)
            model = adapter.restore(loaded.model, directory)
    except MolpeftError:
        raise
    except Exception as exc:  # safetensors, torch and peft each raise their own types for bad files
        raise CheckpointError(f"{weights}: {describe_load_error(exc)}") from None
    from molpeft_cli.settings import resolve_device

    return FinetunedModel(model.to(resolve_device(device)).eval(), load_tokenizer(directory), meta, features)


class CheckpointError(MolpeftError):
    """A checkpoint file that is missing, corrupt, or does not fit its configuration."""


META_REQUIRED = ("peft", "base_model", "label_scaling", "options")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read: {exc}") from None
    except ValueError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the checkpoint is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a JSON object; the checkpoint is damaged")
    missing = [key for key in META_REQUIRED if key not in meta]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}; the checkpoint is damaged")
    scaling = meta["label_scaling"]
    try:
        ok = float(scaling["std"]) > 0 and float(scaling["mean"]) == float(scaling["mean"])
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise CheckpointError(f"{path}: label_scaling must hold a finite mean and a positive std")
    return meta


def describe_load_error(exc: BaseException) -> str:
    """One line for a failed weight load: shape mismatches counted with one example, other errors' first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    sizes = [line for line in lines if line.startswith("size mismatch")]
    if sizes:
        return (f"{len(sizes)} tensors do not fit the model's config (another model size?), e.g. "
                f"{sizes[0][:160]}")
    kind = type(exc).__name__
    if kind == "SafetensorError":
        return f"not a readable safetensors file ({(lines[0] if lines else kind)[:160]}); it is truncated or damaged"
    return f"{kind}: {(lines[0] if lines else '')[:200]}"


def _quiet_load(load_pretrained, base_dir, overrides):
    import logging

    # the base's head note (an MLM head where a regression head is built) is expected here: debug only
    return load_pretrained(base_dir, "regression", config_overrides=overrides, notes_level=logging.DEBUG)


def _find_base(base: dict[str, str], checkpoint: Path) -> Path:
    """Locate the base model: its recorded path, else its reference (bundled name, relative path, hub id)."""
    from molpeft_cli.model.loading import resolve_checkpoint

    candidates = [Path(base["path"])]
    ref_path = Path(base["ref"])
    if not ref_path.is_absolute():
        candidates.append(checkpoint.parent / ref_path)
    directory = next((c for c in candidates if c.is_dir()), None)
    if directory is None:
        directory = resolve_checkpoint(base["ref"])
    actual = weights_sha256(directory)
    if actual != base["sha256"]:
        raise MolpeftError(f"the base model at {directory} has changed since {checkpoint} was trained "
                           f"(sha256 {actual[:12]}... vs {base['sha256'][:12]}...)")
    return directory
