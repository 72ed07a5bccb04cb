"""The `tune` step: sweep a method's learning rate (and LoRA rank/alpha) on the validation split (MSE for
regression, log loss for classification)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.steps.finetune import DEFAULT_MODEL
from molpeft_cli.training.options import FinetuneOptions


@dataclass
class TuneConfig:
    command: ClassVar[str] = "tune"

    split_table: str = argument(help="Split table (from `molpeft split`); its test rows are never read.",
                                metavar="SPLIT")
    output: str = option(help="Sweep folder (created; reused to resume).", flags=("--output", "-o"))
    model: str = option(DEFAULT_MODEL, "Bundled name, checkpoint directory, or hub id.")
    grid_lr: list[float] = option(default_factory=list, comma=True,
                                  help="Learning rates to try (default: the method's grid, see `tuning/grid.py`).")
    grid_lora_rank: list[int] = option(default_factory=list, comma=True, help="LoRA ranks to try (default 8,16).")
    grid_lora_alpha: list[float] = option(default_factory=list, comma=True,
                                          help="LoRA alphas to try (default: rank and 2 rank).")
    seeds: list[int] = option(default_factory=lambda: [0], comma=True,
                              help="Training seeds per configuration (their spread is the noise the margin is "
                                   "compared with).")
    jobs: int = option(1, "Trials at once, each in its own process (threads: the global --threads).", min=1)
    config: str | None = config_option()
    recipe: FinetuneOptions = option(default_factory=FinetuneOptions, nested=True,
                                     help="The fixed training recipe (method, epochs, patience, batch, bf16); the "
                                          "grid's values replace its lr (and LoRA rank/alpha).")

    def __post_init__(self) -> None:
        check_not_empty(self, ("split_table", "output", "model", "config"))
        from molpeft_cli.errors import SettingError
        from molpeft_cli.tuning.grid import grid_for

        grid_for(self.recipe.peft, self.grid_lr, self.grid_lora_rank, self.grid_lora_alpha)  # the grid's own checks
        check_numbers(self, {"seeds": (0, True), "jobs": (1, True)})  # and every grid value finite
        if not self.seeds:
            raise SettingError("seeds", "{setting} names no seed; give at least one (e.g. 0)")
        if len(set(self.seeds)) != len(self.seeds):  # a repeated grid value is one trial; a repeated seed is not
            raise SettingError("seeds", f"{{setting}} repeats a value: {', '.join(map(str, self.seeds))}")


@dataclass
class TuneResult:
    directory: Path
    best: dict[str, Any]  # the winning option values
    margin: str  # how clearly it won
    summary: Any  # polars.DataFrame, one row per configuration, best first


def tune(config: TuneConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> TuneResult:
    """Grid-search the recipe on the validation split (scored on the validation MSE; for classification the
    validation log loss); writes tune.md, results.parquet, trials.parquet, best.toml
    and manifest.json to `output`."""
    from molpeft_cli.data.manifest import build_manifest, now
    from molpeft_cli.tuning import grid_for, run_sweep
    from molpeft_cli.tuning.sweep import margin_text, write_outputs

    c = config
    started = now()
    grid = grid_for(c.recipe.peft, c.grid_lr or None, c.grid_lora_rank or None, c.grid_lora_alpha or None)
    result = run_sweep(c.split_table, c.output, grid, c.recipe, c.model, list(c.seeds), c.jobs, runtime.threads,
                       runtime.device)
    fixed = c.recipe.for_task(result.task)
    params = {"peft": c.recipe.peft, "grid": grid.as_dicts(), "seeds": list(c.seeds), "model": c.model,
              "fixed": fixed.to_dict(), "jobs": c.jobs}
    outcome = {"best": result.best, "trials": result.trials.height}
    if result.task != "regression":  # the task and its score, for classification only (regression's records as before)
        params["task"] = result.task
        outcome["score"] = result.score
    manifest = build_manifest("tune", params, None, {"split": c.split_table, "config": c.config, "model": c.model},
                              started, outcome, argv=argv, config=c)
    write_outputs(result, grid, c.recipe, manifest)
    return TuneResult(Path(c.output), result.best, margin_text(result.summary), result.summary)
