"""Load a MoLFormer checkpoint (local directory, bundled name, or hub id) into one of our model classes with a
strict key check, and save checkpoint directories.

Strict means: every key the model has must come from the checkpoint and every checkpoint key must be used,
except for these documented head differences, each reported on the console and in the returned `LoadReport`:
- a head the checkpoint lacks entirely (e.g. an encoder-only checkpoint into `MolformerForRegression`) is
  initialised fresh;
- a head the target model does not have is ignored: `lm_head.*` (MLM), `regressor.*` (ours), and the published
  port's `classifier.{dense,dense2,out_proj}` (its 2-layer regression head; ours is `regressor.out_proj`);
- an MLM checkpoint saved with tied embeddings lacks `lm_head.decoder.weight`: it is filled from the word
  embeddings.
Encoder keys are accepted with or without the `molformer.` prefix. Weights are read from safetensors, or from
`pytorch_model.bin` with `torch.load(weights_only=True)` (no arbitrary unpickling). Anything else fails with a
MolpeftError listing the keys.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from molpeft_cli.data.atomic import atomic_dir
from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.config import MolformerConfig
from molpeft_cli.model.heads import MolformerForMaskedLM, MolformerForRegression
from molpeft_cli.model.hub import resolve_checkpoint
from molpeft_cli.model.modeling import MolformerModel, MolformerPreTrainedModel
from molpeft_cli.model.tokenizer import VOCAB_FILE, MolformerTokenizer

log = logging.getLogger(__name__)

MODEL_KINDS: dict[str, type[MolformerPreTrainedModel]] = {
    "encoder": MolformerModel,
    "mlm": MolformerForMaskedLM,
    "regression": MolformerForRegression,
}
PREFIX = "molformer."
ENCODER_ROOTS = ("embeddings.", "encoder.", "LayerNorm.")
HEADS = {
    "lm_head.": "masked-LM head (lm_head.*)",
    "regressor.": "regression head (regressor.out_proj)",
    "classifier.": "published port's regression head (classifier.dense/dense2/out_proj)",
}
TIED_DECODER = "lm_head.decoder.weight"
TIED_SOURCE = "molformer.embeddings.word_embeddings.weight"
LIST_AT_MOST = 8


@dataclass
class LoadReport:
    """What loading did: keys the model lacked or did not use, and which were documented head cases."""

    source: str
    directory: str
    weights_file: str
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    initialised_heads: list[str] = field(default_factory=list)
    ignored_heads: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    model: MolformerPreTrainedModel
    tokenizer: MolformerTokenizer
    report: LoadReport


def read_config(directory: Path, overrides: dict[str, Any] | None = None) -> MolformerConfig:
    """config.json of a MoLFormer checkpoint, with `overrides` (e.g. dropout rates) applied."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise MolpeftError(f"{directory} has no config.json; it is not a checkpoint directory")
    try:
        fields = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise MolpeftError(f"{config_path} is not valid JSON ({error}); the checkpoint is damaged") from None
    if not isinstance(fields, dict):
        raise MolpeftError(f"{config_path} is not a JSON object; the checkpoint is damaged")
    if fields.get("model_type") != MolformerConfig.model_type:
        raise MolpeftError(f"{config_path} has model_type {fields.get('model_type')!r}, not 'molformer'")
    fields.pop("model_type")
    if fields.pop("auto_map", None) is not None:
        log.debug("ignoring the config's auto_map (remote code): the native implementation is used")
    reference = MolformerConfig()
    for key in overrides or {}:
        if not hasattr(reference, key):
            raise MolpeftError(f"unknown MoLFormer config field {key!r}")
    fields.update(overrides or {})
    try:
        return MolformerConfig(**fields)
    except ValueError as error:
        raise MolpeftError(f"{config_path}: {error}") from error


def read_state_dict(directory: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The checkpoint's tensors (safetensors, sharded safetensors, or a tensors-only pytorch_model.bin)."""
    single = directory / "model.safetensors"
    if single.is_file():
        try:
            return load_file(single), single.name
        except Exception as error:  # safetensors raises its own SafetensorError for damaged files
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            raise MolpeftError(f"{single} is not a readable safetensors file ({first}); it is truncated or "
                               "damaged") from None
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(directory / shard))
        return state, index.name
    binary = directory / "pytorch_model.bin"
    if binary.is_file():
        try:
            state = torch.load(binary, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise MolpeftError(
                f"{binary} holds more than tensors; refusing to unpickle it (convert it to safetensors)"
            ) from error
        return state, binary.name
    raise MolpeftError(f"{directory} has no model.safetensors or pytorch_model.bin")


def _head_of(key: str) -> str | None:
    return next((prefix for prefix in HEADS if key.startswith(prefix)), None)


def _normalise_keys(state: dict[str, torch.Tensor], task_model: bool) -> dict[str, torch.Tensor]:
    """Put encoder keys in the target's layout: `molformer.`-prefixed in task models, bare in the encoder."""
    out = {}
    for key, tensor in state.items():
        if task_model and key.startswith(ENCODER_ROOTS):
            key = PREFIX + key
        elif not task_model and key.startswith(PREFIX):
            key = key[len(PREFIX) :]
        out[key] = tensor
    return out


def _listing(keys: list[str]) -> str:
    more = f" (+{len(keys) - LIST_AT_MOST} more)" if len(keys) > LIST_AT_MOST else ""
    return ", ".join(keys[:LIST_AT_MOST]) + more


def reconcile_keys(
    model: MolformerPreTrainedModel, state: dict[str, torch.Tensor], report: LoadReport
) -> dict[str, torch.Tensor]:
    """Apply the documented head rules to `state`, fill `report`; MolpeftError on any other difference."""
    expected = model.state_dict()
    task_model = not isinstance(model, MolformerModel)
    state = _normalise_keys(state, task_model)
    if isinstance(model, MolformerForMaskedLM) and TIED_DECODER not in state and TIED_SOURCE in state:
        if any(key.startswith("lm_head.") for key in state):
            state[TIED_DECODER] = state[TIED_SOURCE]
            report.notes.append(
                "lm_head.decoder.weight is tied to the word embeddings in this checkpoint: copied"
            )
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    report.missing_keys, report.unexpected_keys = missing, unexpected

    model_heads = {_head_of(key) for key in expected} - {None}
    checkpoint_heads = {_head_of(key) for key in state} - {None}
    # Unused keys are fine only for heads the model lacks; missing keys only for heads the checkpoint lacks
    # whole.
    bad_unexpected = [k for k in unexpected if _head_of(k) is None or _head_of(k) in model_heads]
    bad_missing = [k for k in missing if _head_of(k) is None or _head_of(k) in checkpoint_heads]
    if bad_missing or bad_unexpected:
        parts = []
        if bad_missing:
            parts.append(
                f"{len(bad_missing)} model keys missing from the checkpoint: {_listing(bad_missing)}"
            )
        if bad_unexpected:
            parts.append(f"{len(bad_unexpected)} checkpoint keys the model lacks: {_listing(bad_unexpected)}")
        raise MolpeftError(f"{report.directory} does not fit {type(model).__name__}: " + "; ".join(parts))

    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if mismatched:
        raise MolpeftError(
            f"{report.directory}: tensor shapes differ from its config: {_listing(mismatched)}"
        )

    report.initialised_heads = sorted({HEADS[h] for h in map(_head_of, missing) if h})
    report.ignored_heads = sorted({HEADS[h] for h in map(_head_of, unexpected) if h})
    for head in report.initialised_heads:
        report.notes.append(f"the checkpoint has no {head}: a new one is initialised")
    for head in report.ignored_heads:
        report.notes.append(f"the checkpoint's {head} is not used by {type(model).__name__}")
    return {k: v for k, v in state.items() if k in expected}


def load_tokenizer(directory: str | os.PathLike, max_length: int = 202) -> MolformerTokenizer:
    vocab = Path(directory) / VOCAB_FILE
    if not vocab.is_file():
        raise MolpeftError(f"{directory} has no {VOCAB_FILE}")
    return MolformerTokenizer(vocab_file=str(vocab), model_max_length=max_length)


def load_pretrained(
    name_or_path: str | os.PathLike,
    model_class: type[MolformerPreTrainedModel] | str = MolformerForRegression,
    *,
    config_overrides: dict[str, Any] | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    notes_level: int = logging.INFO,
) -> LoadedModel:
    """Load model + tokenizer from a checkpoint directory, bundled model name, or hub id.

    model_class: MolformerModel / MolformerForMaskedLM / MolformerForRegression, or "encoder" / "mlm" /
    "regression". config_overrides: config fields to change before the model is built (e.g.
    {"classifier_dropout_prob": 0.5}). notes_level: the log level of the head-difference notes (DEBUG where
    the caller expects them). The model is returned in eval mode.
    """
    if isinstance(model_class, str):
        if model_class not in MODEL_KINDS:
            raise MolpeftError(f"unknown model kind {model_class!r}; choose one of {', '.join(MODEL_KINDS)}")
        model_class = MODEL_KINDS[model_class]
    directory = resolve_checkpoint(name_or_path, revision=revision, cache_dir=cache_dir)
    config = read_config(directory, config_overrides)
    tokenizer = load_tokenizer(directory, config.max_position_embeddings)
    if max(tokenizer.vocab.values()) >= config.vocab_size:
        raise MolpeftError(
            f"{directory}: vocab.json has ids beyond the config's vocab_size {config.vocab_size}"
        )
    if tokenizer.pad_token_id != config.pad_token_id:
        raise MolpeftError(
            f"{directory}: <pad> is id {tokenizer.pad_token_id} in vocab.json "
            f"but {config.pad_token_id} in config.json"
        )
    state, weights_file = read_state_dict(directory)
    report = LoadReport(str(name_or_path), str(directory), weights_file)
    model = model_class(config)
    usable = reconcile_keys(model, state, report)
    model.load_state_dict(usable, strict=False)
    for note in report.notes:
        log.log(notes_level, note)
    log.debug(f"loaded {type(model).__name__} from {directory / weights_file}")
    return LoadedModel(model.eval(), tokenizer, report)


def save_checkpoint(
    model: MolformerPreTrainedModel, tokenizer: MolformerTokenizer, directory: str | os.PathLike
) -> Path:
    """Write config.json, model.safetensors, vocab.json and the tokenizer config to `directory` atomically
    (an interrupted save leaves any previous checkpoint there intact)."""
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a tqdm bar for writing one shard is noise next to our console
    try:
        with atomic_dir(directory) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    return Path(directory)
