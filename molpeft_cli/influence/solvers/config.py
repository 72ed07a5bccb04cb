"""Settings of the inverse-Hessian-vector-product solve; field names match the `molpeft influence` options.

The defaults converge: damping and step are set from the estimated largest Hessian eigenvalue and LiSSA runs
until its relative residual is below `tol` (`depth` is a ceiling). `SolverConfig.original_study()` gives the
original study's fixed run (200 iterations, step 0.04, damping 0.01).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.hvp import check_hvp_method

SOLVERS = ("lissa", "cg", "exact", "projected")


@dataclass
class SolverConfig:
    solver: str = field(
        default="lissa",
        metadata={
            "help": "lissa (stochastic), cg (full batch), exact (dense) or projected (Gauss-Newton in a "
            "random projection, TRAK-style: scales to every adapted parameter)"
        },
    )
    damping: float | None = field(
        default=None,
        metadata={
            "help": "added to the Hessian: solves (H + damping*I) x = v; None = auto: damping_ratio * "
            "(estimated largest eigenvalue)"
        },
    )
    damping_ratio: float = field(
        default=0.01, metadata={"help": "auto damping as a fraction of the largest Hessian eigenvalue"}
    )
    step: float | None = field(
        default=None,
        metadata={
            "help": "lissa step (the original study's 'scale'); stable only if step*(eigenvalues of H + "
            "damping) < 2; None = auto: 1 / (estimated largest eigenvalue + damping)"
        },
    )
    depth: int = field(
        default=2000,
        metadata={"help": "lissa iteration ceiling (one training minibatch each); it stops earlier at --tol"},
    )
    tol: float = field(
        default=0.02,
        metadata={"help": "lissa stops (and counts as converged) below this relative residual"},
    )
    fixed_depth: bool = field(
        default=False, metadata={"help": "lissa runs all --depth iterations (the original study's run)"}
    )
    repeats: int = field(default=1, metadata={"help": "independent lissa runs averaged"})
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
    proj_dim: int = field(
        default=2048,
        metadata={"help": "projected: dimension of the random projection (no projection when >= parameters)"},
    )
    proj_seed: int = field(default=0, metadata={"help": "projected: seed of the random projection"})

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise MolpeftError(f"unknown solver {self.solver!r}; use {', '.join(SOLVERS)}")
        check_hvp_method(self.hvp)
        if self.damping is not None and self.damping < 0:
            raise MolpeftError(f"damping must be >= 0, got {self.damping}")
        for name in ("step", "tol", "growth_limit", "cg_tol", "damping_ratio"):
            if getattr(self, name) is None:
                continue
            if not getattr(self, name) > 0:
                raise MolpeftError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("depth", "repeats", "cg_max_iter", "exact_max_params", "proj_dim"):
            if getattr(self, name) < 1:
                raise MolpeftError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def original_study(cls, **overrides) -> SolverConfig:
        """The original study's LiSSA: 200 iterations, step 0.04, damping 0.01, no stopping at a tolerance."""
        settings = dict(solver="lissa", depth=200, step=0.04, damping=0.01, tol=0.01, fixed_depth=True)
        return cls(**{**settings, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)
