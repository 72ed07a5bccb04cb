"""The `influence` step: estimated effect of adding each pool molecule on the validation loss."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class InfluenceConfig:
    command: ClassVar[str] = "influence"

    checkpoint: str = argument(help="Fine-tuned checkpoint directory.", metavar="CKPT")
    train: str = option(help="Split table: its train split defines the Hessian, its valid split the target.")
    pool: str = option(help="Labelled pool table to score.")
    output: str = option(help="Scores table ('-' for stdout).", flags=("--output", "-o"))
    target: str = option("valid", "valid (default) or test (leaks the test set: warned and recorded).")
    params: str = option("trainable", "Parameter scope: trainable, head, last-N (e.g. last-1), all.")
    solver: str = option("lissa", "lissa; cg; exact (dense; small scopes only); projected (Gauss-Newton in a random "
                         "projection: every adapted parameter in minutes).")
    depth: int = option(2000, "LiSSA iteration ceiling (one training minibatch each); it stops earlier once the "
                        "relative residual is below --tol.")
    tol: float = option(0.02, "LiSSA stops (converged) below this relative residual.")
    fixed_depth: bool = option(False, "LiSSA runs all --depth iterations, as the original study did (--depth 200 "
                               "--step 0.04 --damping 0.01 --fixed-depth).")
    damping: str = option("auto", "Damping added to the Hessian, or 'auto': --damping-ratio x the estimated "
                          "largest eigenvalue (the original study: 0.01).")
    damping_ratio: float = option(0.01, "Auto damping as a fraction of the largest Hessian eigenvalue.")
    step: str = option("auto", "LiSSA step, or 'auto': 1/(estimated lambda_max + damping) (the original study: "
                       "0.04; needs step*(lambda_max+damping)<2).")
    repeats: int = option(1, "Independent LiSSA runs averaged.")
    proj_dim: int = option(2048, "projected: random projection dimension.")
    hvp: str = option("double-backward", "double-backward or forward-over-reverse.")
    batch_size: int = option(32, "Molecules per minibatch.")
    truncate: bool = option(True, "Cut over-long molecules instead of failing.")
    seed: int | None = option(None, "Seed for minibatch order (default: global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        if self.target not in ("valid", "test"):
            raise SettingError("target", f"{{setting}} must be valid or test, got {self.target!r}")
        self.solver_config()  # validates solver, damping, step, depth, repeats, hvp

    def step_value(self) -> float | None:
        return _number_or_auto(self.step, "step")

    def damping_value(self) -> float | None:
        return _number_or_auto(self.damping, "damping")

    def solver_config(self, seed: int = 0):
        from molpeft_cli.influence.solvers import SolverConfig

        step = self.step_value()
        try:
            return SolverConfig(solver=self.solver, damping=self.damping_value(), damping_ratio=self.damping_ratio,
                                step=step, depth=self.depth, tol=self.tol, fixed_depth=self.fixed_depth,
                                repeats=self.repeats, hvp=self.hvp, proj_dim=self.proj_dim, proj_seed=seed)
        except SettingError:
            raise
        except (TypeError, ValueError) as exc:
            from molpeft_cli.errors import MolpeftError

            raise MolpeftError(str(exc)) from None


def _number_or_auto(text: str, name: str) -> float | None:
    if str(text) == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise SettingError(name, f"{{setting}} must be a number or 'auto', got {text!r}") from None


@dataclass
class InfluenceResult:
    scores: Any  # polars.DataFrame: mol_id, score, grad_norm, ...
    summary: dict[str, Any]


def influence(config: InfluenceConfig, runtime: Runtime = Runtime(),
              argv: list[str] | None = None) -> InfluenceResult:
    """Score pool molecules: score = grad L_valid^T (H + damping I)^-1 grad L(z); positive = helpful."""
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.influence.job import pool_influence

    c = config
    check_step_outputs(c, {"output": False}, ("checkpoint", "train", "pool", "config"))
    seed = runtime.seed_for(c.seed)
    solver = c.solver_config(seed)
    runtime.apply_threads()
    recorder = Recorder("influence", dict(target=c.target, params=c.params, solver=c.solver, depth=c.depth,
                                          tol=c.tol, fixed_depth=c.fixed_depth, damping=c.damping,
                                          damping_ratio=c.damping_ratio, step=c.step, repeats=c.repeats, hvp=c.hvp,
                                          proj_dim=c.proj_dim, batch_size=c.batch_size, truncate=c.truncate), seed,
                        {"checkpoint": c.checkpoint, "train": c.train, "pool": c.pool, "config": c.config}, argv)
    split_table = load_molecules(c.train, "split")
    pool_table = load_molecules(c.pool, "pool")
    result = pool_influence(c.checkpoint, split_table, pool_table, c.target, c.params, solver, c.batch_size,
                            c.truncate, seed, device=runtime.device)
    table = result.to_frame(pool_table["mol_id"].to_list())
    summary = result.summary()
    log.info(f"influence over {summary['n_params']:,} parameters ({c.params}), {c.solver}: "
             f"{summary['n_positive']} of {summary['n_pool']} pool molecules have positive scores (helpful)")
    write_table(table, c.output)
    recorder.write(c.output, extra={"target": c.target, "leakage": c.target == "test", "influence": summary})
    return InfluenceResult(table, summary)
