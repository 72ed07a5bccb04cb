"""Where a checkpoint directory comes from: a local path, a model bundled with the package, or a Hugging Face
hub id (downloaded when online, found in the hub cache when offline). Failures end in a MolpeftError that
names the local alternative."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.tokenizer import VOCAB_FILE

log = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
BUNDLED_MODELS = {"molformer-mini": "molformer-mini"}  # name -> folder under molpeft_cli/assets
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
HUB_FILES = [
    "config.json",
    VOCAB_FILE,
    "tokenizer_config.json",
    "special_tokens_map.json",
    "model.safetensors",
    "model-*.safetensors",
    "model.safetensors.index.json",
]


def _hub_failure(repo_id: str, error: Exception) -> MolpeftError:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        reason = "offline mode is on (HF_HUB_OFFLINE) and it is not in the local hub cache"
    else:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {first_line}"[:300]
    return MolpeftError(
        f"could not get {repo_id!r} from the Hugging Face hub ({reason}). Pass a local checkpoint directory "
        f"instead (config.json, model.safetensors or pytorch_model.bin, vocab.json), e.g. one copied from a "
        f"machine with internet access made by `hf download {repo_id} --local-dir DIR`."
    )


def download_from_hub(
    repo_id: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Download (or find in the hub cache) a checkpoint's files; safetensors is preferred over .bin."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=HUB_FILES)
        )
        if not any(folder.glob("*.safetensors")):
            folder = Path(
                snapshot_download(
                    repo_id,
                    revision=revision,
                    cache_dir=cache_dir,
                    allow_patterns=[*HUB_FILES, "pytorch_model.bin"],
                )
            )
    except Exception as error:  # offline, DNS, HTTP, auth, missing repo: each ends in the same advice
        raise _hub_failure(repo_id, error) from error
    return folder


def resolve_checkpoint(
    name_or_path: str | os.PathLike, revision: str | None = None, cache_dir: str | os.PathLike | None = None
) -> Path:
    """A checkpoint directory for a local path, a bundled model name, or a hub id (downloaded when online)."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise MolpeftError(
            f"{text} is a file; pass a checkpoint directory (config.json, weights, vocab.json)"
        )
    if text in BUNDLED_MODELS:
        bundled = ASSETS_DIR / BUNDLED_MODELS[text]
        if not bundled.is_dir():
            raise MolpeftError(
                f"the bundled model {text!r} is not in this installation ({bundled} is missing)"
            )
        return bundled
    if not HUB_ID.fullmatch(text):
        raise MolpeftError(f"no checkpoint directory {text!r}, and it is not a hub id (owner/name)")
    if path.parent.is_dir() and str(path.parent) != ".":
        # "runs/model" with a local runs/ folder is a mistyped path, not a hub id.
        raise MolpeftError(f"no checkpoint directory {text!r} (its folder {path.parent} exists locally)")
    log.debug(f"{text} is not a local directory; trying the Hugging Face hub")
    return download_from_hub(text, revision=revision, cache_dir=cache_dir)
