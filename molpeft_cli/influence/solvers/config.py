"""Settings of the inverse-Hessian-vector-product solve, declared once: `molpeft influence` nests them, so each
field here is one of its options (and a key of its TOML table); the `cli=False` ones are Python-only.

The defaults converge: damping and step are set from the estimated largest Hessian eigenvalue and LiSSA runs
until its relative residual is below `tol` (`depth` is a ceiling). `SolverConfig.original_study()` gives the
original study's fixed run (200 iterations, step 0.04, damping 0.01).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from molpeft_cli.errors import SettingError
from molpeft_cli.schema import option

SOLVERS = ("lissa", "cg", "exact", "projected")
HVP_METHODS = ("double-backward", "forward-over-reverse")
AUTO = "auto"


def check_hvp_method(method: str) -> str:
    """`method` when it is a Hessian-vector product method (influence/hvp.py), else a SettingError."""
    if method not in HVP_METHODS:
        raise SettingError("hvp", f"unknown Hessian-vector product method {method!r} ({{setting}}); use "
                           f"{' or '.join(HVP_METHODS)}")
    return method


@dataclass
class SolverConfig:
    """`damping` and `step` are spelled as on the command line and in TOML: 'auto' or a number (as text); Python
    callers may also give a float, or None for auto. `damping_value` and `step_value` are the numbers (None: auto)."""

    solver: str = option("lissa", "lissa; cg; exact (dense; small scopes only); projected (Gauss-Newton in a random "
                         "projection: every adapted parameter in minutes).")
    depth: int = option(2000, "LiSSA iteration ceiling (one training minibatch each); it stops earlier once the "
                        "relative residual is below --tol.")
    tol: float = option(0.02, "LiSSA stops (converged) below this relative residual.")
    fixed_depth: bool = option(False, "LiSSA runs all --depth iterations, as the original study did (--depth 200 "
                               "--step 0.04 --damping 0.01 --fixed-depth).")
    damping: str = option(AUTO, "Damping added to the Hessian, or 'auto': --damping-ratio x the estimated "
                          "largest eigenvalue (the original study: 0.01).")
    damping_ratio: float = option(0.01, "Auto damping as a fraction of the largest Hessian eigenvalue.")
    step: str = option(AUTO, "LiSSA step, or 'auto': 1/(estimated lambda_max + damping) (the original study: "
                       "0.04; needs step*(lambda_max+damping)<2).")
    repeats: int = option(1, "Independent LiSSA runs averaged.")
    proj_dim: int = option(2048, "projected: random projection dimension.")
    hvp: str = option("double-backward", "double-backward or forward-over-reverse.")
    growth_limit: float = option(10.0, "lissa stops as diverged when |v_t| > growth_limit*(t+1)*|v| (stable runs "
                                 "stay below 1)", cli=False)
    cg_tol: float = option(1e-5, "cg stops at this relative residual", cli=False)
    cg_max_iter: int = option(100, "cg iteration cap (one full-batch HVP each)", cli=False)
    exact_max_params: int = option(5000, "exact refuses scopes larger than this (dense P x P Hessian)", cli=False)
    proj_seed: int = option(0, "projected: seed of the random projection (the step sets it from its seed)",
                            cli=False)

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise SettingError("solver", f"unknown {{setting}} {self.solver!r}; use {', '.join(SOLVERS)}")
        check_hvp_method(self.hvp)
        if self.damping_value is not None and self.damping_value < 0:
            raise SettingError("damping", f"{{setting}} must be >= 0, got {self.damping}")
        for name in ("step_value", "tol", "growth_limit", "cg_tol", "damping_ratio"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                setting = name.removesuffix("_value")
                raise SettingError(setting, f"{{setting}} must be > 0, got {getattr(self, setting)}")
        for name in ("depth", "repeats", "cg_max_iter", "exact_max_params", "proj_dim"):
            if getattr(self, name) < 1:
                raise SettingError(name, f"{{setting}} must be >= 1, got {getattr(self, name)}")

    @property
    def damping_value(self) -> float | None:
        """The damping as a number; None: auto (damping_ratio x the largest eigenvalue)."""
        return number_or_auto(self.damping, "damping")

    @property
    def step_value(self) -> float | None:
        """The LiSSA step as a number; None: auto (1 / (largest eigenvalue + damping))."""
        return number_or_auto(self.step, "step")

    @classmethod
    def original_study(cls, **overrides) -> SolverConfig:
        """The original study's LiSSA: 200 iterations, step 0.04, damping 0.01, no stopping at a tolerance."""
        settings = dict(solver="lissa", depth=200, step=0.04, damping=0.01, tol=0.01, fixed_depth=True)
        return cls(**{**settings, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def number_or_auto(value: str | float | None, setting: str) -> float | None:
    """A setting given as 'auto' (or None) or a number, possibly as text: the number, None for auto."""
    if value is None or str(value) == AUTO:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SettingError(setting, f"{{setting}} must be a number or 'auto', got {value!r}") from None
