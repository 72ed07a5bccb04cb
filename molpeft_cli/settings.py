"""Process-wide settings from the global CLI options (seed, threads), read by the commands."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class Settings:
    seed: int = 0
    threads: int | None = None


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
