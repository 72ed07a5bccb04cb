"""What every inverse-HVP solver returns: the solution of (H + damping*I) x = v and how the solve went."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class IHVPResult:
    solution: torch.Tensor
    solver: str
    iterations: int
    converged: bool
    residual: float  # relative |v - (H + damping I) x| / |v|; lissa: mean over its last tenth of iterations
    residual_history: list[float] = field(default_factory=list)  # per iteration (lissa: on that minibatch)
    norm_history: list[float] = field(default_factory=list)  # |x_t| per iteration (lissa: mean over repeats)
    info: dict[str, float] = field(default_factory=dict)  # solver extras, e.g. Hessian eigenvalue range
    note: str = ""  # the one-line warning of a solve that stopped short (empty when converged)

    def summary(self) -> dict:
        """JSON-ready diagnostics (no tensors) for manifests and logs."""
        return {
            "solver": self.solver,
            "iterations": self.iterations,
            "converged": self.converged,
            "stopped_short": not self.converged,
            "note": self.note,
            "residual": self.residual,
            "solution_norm": float(self.solution.norm()),
            "residual_history": self.residual_history,
            "norm_history": self.norm_history,
            **self.info,
        }
