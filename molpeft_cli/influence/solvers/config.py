"""Settings of the inverse-Hessian-vector-product solve; field names match the `molpeft influence` options."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.hvp import check_hvp_method

SOLVERS = ("lissa", "cg", "exact")


@dataclass
class SolverConfig:
    solver: str = field(
        default="lissa", metadata={"help": "lissa (stochastic), cg (full batch) or exact (dense)"}
    )
    damping: float = field(
        default=0.01, metadata={"help": "added to the Hessian: solves (H + damping*I) x = v"}
    )
    step: float | None = field(
        default=0.04,
        metadata={
            "help": "lissa step (the seed's 'scale'); stable only if step*(eigenvalues of H + damping) < 2; "
            "None = auto: 1 / (estimated largest eigenvalue + damping)"
        },
    )
    depth: int = field(
        default=200, metadata={"help": "lissa iterations per repeat (one training minibatch each)"}
    )
    repeats: int = field(default=1, metadata={"help": "independent lissa runs averaged"})
    lissa_tol: float = field(
        default=0.01,
        metadata={"help": "lissa counts as converged below this relative residual (mean of the last tenth)"},
    )
    growth_limit: float = field(
        default=10.0,
        metadata={
            "help": "lissa stops as diverged when |v_t| > growth_limit*(t+1)*|v| (stable runs stay below 1)"
        },
    )
    cg_tol: float = field(default=1e-5, metadata={"help": "cg stops at this relative residual"})
    cg_max_iter: int = field(default=100, metadata={"help": "cg iteration cap (one full-batch HVP each)"})
    hvp: str = field(default="double-backward", metadata={"help": "double-backward or forward-over-reverse"})
    exact_max_params: int = field(
        default=5000, metadata={"help": "exact refuses scopes larger than this (dense P x P Hessian)"}
    )

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise MolpeftError(f"unknown solver {self.solver!r}; use {', '.join(SOLVERS)}")
        check_hvp_method(self.hvp)
        if self.damping < 0:
            raise MolpeftError(f"damping must be >= 0, got {self.damping}")
        for name in ("step", "lissa_tol", "growth_limit", "cg_tol"):
            if name == "step" and self.step is None:
                continue
            if not getattr(self, name) > 0:
                raise MolpeftError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("depth", "repeats", "cg_max_iter", "exact_max_params"):
            if getattr(self, name) < 1:
                raise MolpeftError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)
