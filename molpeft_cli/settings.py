"""Process-wide settings from the global CLI options (seed, threads), read by the commands."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Settings:
    seed: int = 0
    threads: int | None = None
    device: str = "auto"


settings = Settings()


def apply_threads(threads: int | None) -> None:
    """Limit BLAS/OpenMP/torch threads; env vars must be set before those libraries load."""
    settings.threads = threads
    if threads is None:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS"):
        os.environ[var] = str(threads)
    import sys

    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def resolve_seed(seed: int | None) -> int:
    """A command's own --seed wins over the global one."""
    return settings.seed if seed is None else seed


def resolve_device() -> str:
    """The torch device for training and inference: --device, where `auto` takes CUDA when it is available."""
    import torch

    if settings.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        from molpeft_cli.errors import MolpeftError

        raise MolpeftError(f"--device {settings.device}: CUDA is not available here; use --device cpu")
    return settings.device
