"""The `influence-check` step: how well influence scores predict retraining on the model itself (the LDS)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class CheckStepConfig:
    command: ClassVar[str] = "influence-check"

    checkpoint: str = argument(help="The fine-tuned checkpoint the scores are of.", metavar="CKPT")
    train: str = option(help="Split table (train: retrained on; valid: the loss measured).")
    pool: str = option(help="The labelled pool table that was scored.")
    output: str = option(help="Check table: one LDS row per scores table.", flags=("--output", "-o"))
    scores: list[str] = option(default_factory=list, help="Scores table(s) from `molpeft influence` on this "
                               "checkpoint and pool (repeat the option; each is one setting).")
    subsets: int = option(20, "M: random pool subsets, each retrained.")
    fraction: float = option(0.5, "Fraction of the pool in each subset.")
    epochs: int = option(1, "Epochs of training from the checkpoint per subset.")
    lr: float | None = option(None, "Learning rate (default: the checkpoint's).")
    bootstrap: int = option(2000, "Bootstrap resamples for the CI.")
    retraining: str | None = option(None, "Retraining record (JSON): reused when it exists (same settings and "
                                    "pool), else written after retraining, so later checks of other scores skip "
                                    "the retraining.")
    jobs: int = option(1, "Worker processes for the retrainings (one thread each); the results do not depend on "
                       "it.")
    seed: int | None = option(None, "Seed of subsets, training order, bootstrap (default: global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        from molpeft_cli.errors import SettingError
        from molpeft_cli.influence.check import CheckConfig
        from molpeft_cli.schema import check_not_empty, check_numbers

        if not self.scores:
            raise SettingError("scores", "{setting}: give at least one scores table")
        if any(not s.strip() for s in self.scores):
            raise SettingError("scores", "{setting} is empty")
        if self.jobs < 1:
            raise SettingError("jobs", f"{{setting}} must be >= 1, got {self.jobs}")
        check_not_empty(self, ("checkpoint", "train", "pool", "output", "retraining", "config"))
        check_numbers(self, {"seed": (0, True)})
        # the check's own settings, refused here rather than once the retraining starts
        CheckConfig(subsets=self.subsets, fraction=self.fraction, epochs=self.epochs, lr=self.lr,
                    bootstrap=self.bootstrap)


@dataclass
class CheckStepResult:
    table: Any  # polars.DataFrame: one LDS row per scores table (influence.check.CHECK_COLUMNS)
    retraining: Any  # influence.retraining.Retraining: the subsets and the measured validation losses


def influence_check(config: CheckStepConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None,
                    progress=None) -> CheckStepResult:
    """Retrain from the checkpoint with M random pool subsets added; LDS = Spearman(predicted, measured) with a
    bootstrap CI, one row per scores table. `progress(done, loss)` hears of each finished retraining."""
    import numpy as np
    import polars as pl

    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import read_table, require_columns, write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.influence.check import CHECK_COLUMNS, CheckConfig, check_rows
    from molpeft_cli.influence.retraining import load_retraining, retrain_subsets, save_retraining

    c = config
    check_step_outputs(c, {"output": False, "retraining": False}, ("checkpoint", "train", "pool", "scores", "config"))
    runtime.apply_threads()
    check = CheckConfig(subsets=c.subsets, fraction=c.fraction, epochs=c.epochs, lr=c.lr, bootstrap=c.bootstrap,
                        seed=runtime.seed_for(c.seed))
    recorder = Recorder("influence-check", {**check.to_dict(), "jobs": c.jobs}, check.seed,
                        {"checkpoint": c.checkpoint, "train": c.train, "pool": c.pool, "retraining": c.retraining,
                         **{f"scores_{i + 1}": s for i, s in enumerate(c.scores)}}, argv)
    split_table = load_molecules(c.train, "split")
    pool_table = load_molecules(c.pool, "pool")
    pool_ids = pool_table["mol_id"].to_list()
    values, setting = {}, {}
    for path in c.scores:
        table = read_table(path)
        require_columns(table, ["mol_id", "score"], f"scores table {path}")
        joined = pool_table.select("mol_id").join(table.select("mol_id", "score").unique("mol_id", keep="first"),
                                                  on="mol_id", how="left")
        missing = joined["score"].null_count()
        if missing:
            raise MolpeftError(f"{path}: {missing} of {len(pool_ids)} pool molecules have no score; score this "
                               "pool with `molpeft influence` first")
        values[path] = joined["score"].cast(pl.Float64).to_numpy()
        setting[path] = _scores_setting(path)

    if c.retraining and Path(c.retraining).is_file():
        log.info(f"reusing the retraining recorded in {c.retraining}")
        measured = load_retraining(c.retraining, check, len(pool_ids))
    else:
        log.info(f"retraining from {c.checkpoint}: {c.subsets} subsets of {c.fraction:.0%} of {len(pool_ids)} "
                 f"pool molecules, {c.epochs} epoch(s) each, plus the train-only reference")
        measured = retrain_subsets(c.checkpoint, split_table, pool_table, check, progress, c.jobs)
        if c.retraining:
            save_retraining(c.retraining, measured, check, c.checkpoint)

    rows = check_rows(measured, values, setting, check)
    table = pl.DataFrame(rows, schema={name: getattr(pl, dtype) for name, dtype in CHECK_COLUMNS.items()})
    for row in rows:
        log.info(f"LDS {row['lds']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]  {row['scope']} "
                 f"{row['solver']}  ({row['scores']})")
    write_table(table, c.output)
    recorder.write(c.output, extra={"retraining": {
        "start_loss": measured.start_loss, "base_loss": measured.base_loss,
        "measured_change": np.round(measured.measured, 8).tolist(), "n_train": measured.n_train,
        "seconds": measured.seconds, "subset_members": [np.flatnonzero(m).tolist() for m in measured.members],
        "record": c.retraining,
        **({"task": measured.task} if measured.task != "regression" else {})}})  # new key for classification
    return CheckStepResult(table, measured)


def _scores_setting(path: str) -> dict:
    """The setting a scores table was made with, from its manifest (empty when there is none)."""
    from molpeft_cli.data.manifest import manifest_path

    manifest = manifest_path(path)
    if not manifest.is_file():
        return {}
    data = json.loads(manifest.read_text())
    params = data.get("params", {})
    summary = data.get("influence", {})
    ihvp = summary.get("ihvp", {})
    return {"params": params.get("params"), "solver": params.get("solver"), "damping": ihvp.get("damping"),
            "n_params": summary.get("n_params", 0), "converged": ihvp.get("converged", True)}
