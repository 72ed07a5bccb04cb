"""The `select` step: choose pool molecules to add to training (random, mcdropout, maxmin, influence, all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.choices import SELECTION_STRATEGIES
from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime

STRATEGIES = SELECTION_STRATEGIES


@dataclass
class SelectConfig:
    command: ClassVar[str] = "select"

    pool: str = argument(help="Pool table (molecule table or raw CSV/parquet).", metavar="POOL")
    output: str = option(help="Selection table ('-' for stdout).", flags=("--output", "-o"))
    strategy: str = option("random", f"One of {', '.join(STRATEGIES)}.")
    k: int = option(185, "How many molecules to choose.", flags=("-k",))
    threshold: float | None = option(None, "Choose all scoring at least this instead of -k (mcdropout: std; "
                                     "maxmin: Tanimoto distance; influence).")
    exclude: str | None = option(None, "Split table: pool molecules that are the same compound as a valid/test "
                                 "molecule are excluded (and reported).")
    exclude_splits: str = option("valid,test", "Which splits --exclude guards.")
    train: str | None = option(None, "maxmin: split table whose train molecules the picks should also be far "
                               "from (default: --exclude's table).")
    model: str | None = option(None, "mcdropout: fine-tuned checkpoint directory.")
    passes: int = option(100, "mcdropout: stochastic forward passes.")
    scores: str | None = option(None, "influence: scores table from `molpeft influence`.")
    truncate: bool = option(True, "mcdropout: cut over-long molecules instead of failing.")
    bf16: bool = option(False, "mcdropout: forward passes under bfloat16 autocast (several times faster on "
                        "CPU).", flags=("--bf16/--fp32",))
    seed: int | None = option(None, "Seed (default: the global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise SettingError("strategy", f"unknown {{setting}} {self.strategy!r}; choose one of "
                               f"{', '.join(STRATEGIES)}")

    @property
    def guarded_splits(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.exclude_splits.split(",") if s.strip())


@dataclass
class SelectResult:
    selection: Any  # polars.DataFrame: the chosen pool rows with rank and strategy
    record: dict[str, Any]  # what the guard excluded and how the strategy chose (also in the manifest)


def select(config: SelectConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> SelectResult:
    """Choose `k` pool molecules by a strategy, after excluding pool molecules that leak into valid/test."""
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import read_table, write_table
    from molpeft_cli.selection.job import run_selection

    c = config
    check_step_outputs(c, {"output": False}, ("pool", "exclude", "train", "model", "scores", "config"))
    seed = runtime.seed_for(c.seed)
    splits = c.guarded_splits
    params = dict(strategy=c.strategy, k=c.k, threshold=c.threshold, exclude_splits=list(splits),
                  passes=c.passes, truncate=c.truncate, bf16=c.bf16)
    recorder = Recorder("select", params, seed, {"pool": c.pool, "exclude": c.exclude, "train": c.train,
                                                 "model": c.model, "scores": c.scores, "config": c.config}, argv)
    runtime.apply_threads()
    pool_table = load_molecules(c.pool, "pool", unlabeled=True)
    split_table = load_molecules(c.exclude, "split") if c.exclude else None
    train_table = load_molecules(c.train, "train") if c.train else split_table
    score_table = read_table(c.scores) if c.scores else None
    options = dict(k=c.k, threshold=c.threshold, seed=seed, passes=c.passes)
    chosen, record = run_selection(pool_table, c.strategy, options, split_table, splits, train_table, c.model,
                                   score_table, c.truncate, bf16=c.bf16, device=runtime.device)
    write_table(chosen, c.output)
    recorder.write(c.output, extra={"selection": record})
    return SelectResult(chosen, record)
