"""The runtime a library call runs under (seed, CPU threads, torch device), passed explicitly; never a global."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class Runtime:
    """Process-level choices that are not part of any one step's configuration.

    `seed` is the default for a step whose own seed is unset; `threads` limits torch/BLAS threads (None: leave
    them); `device` is `auto` (CUDA when available), `cpu` or `cuda[:N]`.
    """

    seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        from molpeft_cli.errors import SettingError

        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SettingError("seed", f"{{setting}} must be 0 or more, got {self.seed!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 0):
            raise SettingError("threads", f"{{setting}} must be a whole number, 1 or more, got {self.threads!r}")
        if not isinstance(self.device, str) or not DEVICE_PATTERN.match(self.device):
            raise SettingError("device", f"unknown {{setting}} {self.device!r}; choose auto, cpu, cuda, cuda:N (N a "
                               "GPU number) or mps")

    def seed_for(self, seed: int | None) -> int:
        """A step's own seed wins over the runtime's."""
        return self.seed if seed is None else seed

    def torch_device(self) -> str:
        return resolve_device(self.device)

    def apply_threads(self) -> None:
        apply_threads(self.threads)


def apply_threads(threads: int | None) -> None:
    """Limit BLAS/OpenMP/torch threads (None or 0: leave them); env vars must be set before those libraries load."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)


def resolve_device(device: str = "auto") -> str:
    """The torch device for training and inference; `auto` takes CUDA when it is available."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        from molpeft_cli.errors import SettingError

        raise SettingError("device", f"{{setting}} {device}: CUDA is not available here; use cpu")
    return device
