"""Manifests: every output records how it was made (command, parameters, seed, inputs with sha256, versions,
times), so results can be traced and `run` can skip work already done with the same inputs and parameters."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from molpeft_cli.data.atomic import write_text_atomic
from molpeft_cli.schema import config_record, jsonable

TRACKED_PACKAGES = (
    "molpeft", "torch", "transformers", "peft", "rdkit", "deepchem", "polars", "numpy", "safetensors",
)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a directory's files (names and contents, sorted) ignoring its manifest."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.name != "manifest.json"):
        digest.update(str(f.relative_to(path)).encode())
        digest.update(sha256_file(f).encode())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def manifest_path(output: str | os.PathLike) -> Path:
    """`<output>.manifest.json` beside a file, `manifest.json` inside a directory."""
    output = Path(output)
    if output.is_dir():
        return output / "manifest.json"
    return output.with_name(output.name + ".manifest.json")


def describe_inputs(inputs: dict[str, Any]) -> dict[str, dict[str, str]]:
    described = {}
    for role, value in inputs.items():
        if value is None:
            continue
        if str(value) == "-":
            described[role] = {"path": "-", "sha256": "stdin"}
        elif isinstance(value, os.PathLike) or (isinstance(value, str) and Path(value).exists()):
            path = Path(value)
            described[role] = {"path": str(path), "sha256": sha256_path(path) if path.exists() else "missing"}
        else:
            described[role] = {"name": str(value)}
    return described


def build_manifest(
    command: str,
    params: dict[str, Any],
    seed: int | None,
    inputs: dict[str, Any],
    started: str,
    extra: dict[str, Any] | None = None,
    argv: list[str] | None = None,
    config: Any = None,
) -> dict[str, Any]:
    """`argv` is the command line that made the output (the CLI's own, or the one a pipeline step stands for);
    None for a call from Python. `config` is the step's config dataclass as the step was given it (recorded as
    JSON; `molpeft run` compares it to decide whether the step is up to date)."""
    return {
        "command": command,
        "argv": list(argv or []),
        **({"config": config_record(config)} if config is not None else {}),
        "params": jsonable(params),
        "seed": seed,
        "inputs": describe_inputs(inputs),
        "versions": package_versions(),
        "started": started,
        "ended": now(),
        **(jsonable(extra) if extra else {}),
    }


def write_manifest(output: str | os.PathLike, manifest: dict[str, Any], outputs_dir: bool = False) -> Path | None:
    """Write the manifest for `output` atomically; nothing for stdout."""
    if str(output) == "-":
        return None
    path = Path(output) / "manifest.json" if outputs_dir else manifest_path(output)
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path


def read_manifest(output: str | os.PathLike) -> dict[str, Any] | None:
    path = manifest_path(output)
    if not path.exists():
        return None
    return json.loads(path.read_text())
