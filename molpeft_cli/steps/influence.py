"""The `influence` step: estimated effect of adding each pool molecule on the validation loss."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.influence.solvers.config import SolverConfig
from molpeft_cli.schema import argument, cli_fields, config_option, option
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
    ihvp: SolverConfig = option(default_factory=SolverConfig, nested=True,
                                help="The inverse-Hessian-vector-product solve: solver, damping, step, depth, ...")
    batch_size: int = option(32, "Molecules per minibatch.")
    truncate: bool = option(True, "Cut over-long molecules instead of failing.")
    seed: int | None = option(None, "Seed for minibatch order (default: global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        from molpeft_cli.schema import check_not_empty, check_numbers

        if self.target not in ("valid", "test"):
            raise SettingError("target", f"{{setting}} must be valid or test, got {self.target!r}")
        check_not_empty(self, ("checkpoint", "train", "pool", "output", "params", "config"))
        check_numbers(self, {"batch_size": (1, True), "seed": (0, True)})


# What the manifest's `params` leave out: the files (recorded as inputs and output) and the seed (its own field).
NOT_PARAMS = ("checkpoint", "train", "pool", "output", "config", "seed")


def manifest_params(config: InfluenceConfig) -> dict[str, Any]:
    """The settings the manifest records, as given: every option of the command (the solve's flattened into
    them) but the files and the seed."""
    params: dict[str, Any] = {}
    for f in cli_fields(type(config)):
        value = getattr(config, f.name)
        if f.metadata.get("kind") == "nested":
            params.update({g.name: getattr(value, g.name) for g in cli_fields(type(value))})
        elif f.name not in NOT_PARAMS:
            params[f.name] = value
    return params


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
    solver = replace(c.ihvp, proj_seed=seed)
    runtime.apply_threads()
    recorder = Recorder("influence", manifest_params(c), seed,
                        {"checkpoint": c.checkpoint, "train": c.train, "pool": c.pool, "config": c.config}, argv)
    split_table = load_molecules(c.train, "split")
    pool_table = load_molecules(c.pool, "pool")
    result = pool_influence(c.checkpoint, split_table, pool_table, c.target, c.params, solver, c.batch_size,
                            c.truncate, seed, device=runtime.device)
    table = result.to_frame(pool_table["mol_id"].to_list())
    summary = result.summary()
    log.info(f"influence over {summary['n_params']:,} parameters ({c.params}), {solver.solver}: "
             f"{summary['n_positive']} of {summary['n_pool']} pool molecules have positive scores (helpful)")
    write_table(table, c.output)
    recorder.write(c.output, extra={"target": c.target, "leakage": c.target == "test", "influence": summary})
    return InfluenceResult(table, summary)
