"""The `select` step: choose pool molecules to add to training (random, mcdropout, maxmin, influence, all, and the
field's batch strategies egl, kcenter, badge, lcmd, gradsim), from a pool table (and what the strategy needs) to a
selection table, after the leakage guard."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from molpeft_cli.choices import SELECTION_STRATEGIES
from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

STRATEGIES = SELECTION_STRATEGIES


@dataclass
class SelectConfig:
    command: ClassVar[str] = "select"
    # the settings that name input files (recorded as the manifest's inputs; the rest, less output and seed, are
    # its params)
    inputs: ClassVar[tuple[str, ...]] = ("pool", "exclude", "train", "valid", "model", "scores", "config")
    # settings added after the original strategies: in the manifest's params only when not at their default, so
    # the original strategies' manifests stay as they were
    later: ClassVar[dict[str, Any]] = {"uncertainty": "auto", "projection_dim": 1024}

    pool: str = argument(help="Pool table (molecule table or raw CSV/parquet).", metavar="POOL")
    output: str = option(help="Selection table ('-' for stdout).", flags=("--output", "-o"))
    strategy: str = option("random", f"One of {', '.join(STRATEGIES)}.")
    k: int = option(185, "How many molecules to choose.", flags=("-k",))
    threshold: float | None = option(None, "Choose all scoring at least this instead of -k (mcdropout: std; "
                                     "maxmin: Tanimoto distance; influence; egl: gradient length; kcenter, lcmd: "
                                     "embedding distance; gradsim: cosine; not badge).")
    exclude: str | None = option(None, "Split table: pool molecules that are the same compound as a valid/test "
                                 "molecule are excluded (and reported).")
    exclude_splits: str = option("valid,test", "Which splits --exclude guards.")
    train: str | None = option(None, "maxmin, kcenter, lcmd: split table whose train molecules the picks should "
                               "also be far from (default: --exclude's table).")
    valid: str | None = option(None, "gradsim: split table whose valid molecules are the target; mcdropout: its "
                               "uncertainty is checked on them (default: --exclude's table).")
    model: str | None = option(None, "mcdropout, egl, kcenter, badge, lcmd, gradsim: fine-tuned checkpoint "
                               "directory.")
    passes: int = option(100, "mcdropout: stochastic forward passes.")
    uncertainty: str = option("auto", "mcdropout: the score: auto (std for a regression checkpoint, bald for a "
                              "classification one), std, bald (mutual information), entropy (predictive).")
    projection_dim: int = option(1024, "gradsim: dimension of the seeded random projection of the gradients (0: "
                                 "none).")
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
        from molpeft_cli.schema import check_choices, check_not_empty, check_numbers
        from molpeft_cli.selection import REGISTRY
        from molpeft_cli.selection.uncertainty import check_uncertainty

        check_uncertainty(self.uncertainty)
        check_not_empty(self, ("pool", "output", "exclude", "train", "valid", "model", "scores", "config"))
        check_numbers(self, {"k": (1, True), "passes": (2, True), "seed": (0, True), "projection_dim": (0, True)})
        check_choices("exclude_splits", self.guarded_splits, ("train", "valid", "test"))
        # an input the strategy does not read would be ignored without a word: say so instead
        needs = REGISTRY[self.strategy].needs
        for setting, need in (("model", "model"), ("scores", "scores")):
            if getattr(self, setting) is not None and need not in needs:
                readers = ", ".join(name for name, entry in REGISTRY.items() if need in entry.needs)
                raise SettingError(setting, f"{{strategy}} {self.strategy} reads no {{setting}}; leave it out (the "
                                   f"strategies that read one: {readers})")

    @property
    def guarded_splits(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.exclude_splits.split(",") if s.strip())

    def params(self) -> dict[str, Any]:
        """The manifest's params: every setting except the input files, the output and the seed (the manifest
        records the resolved seed on its own); the guarded splits as a list; the `later` settings only when not
        at their default (so manifests stay as they were before those settings existed)."""
        skipped = {*self.inputs, "output", "seed",
                   *(name for name, default in self.later.items() if getattr(self, name) == default)}
        params = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skipped}
        params["exclude_splits"] = list(self.guarded_splits)
        return params


@dataclass
class SelectResult:
    selection: Any  # polars.DataFrame: the chosen pool rows with rank and strategy
    record: dict[str, Any]  # what the guard excluded and how the strategy chose (also in the manifest)
    checks: dict[str, Any] = field(default_factory=dict)  # manifest keys of the strategy's own check, if any


def select(config: SelectConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> SelectResult:
    """Choose `k` pool molecules by a strategy, after excluding pool molecules that leak into valid/test."""
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import read_table, write_table

    c = config
    check_step_outputs(c, {"output": False}, c.inputs)
    seed = runtime.seed_for(c.seed)
    recorder = Recorder("select", c.params(), seed, {name: getattr(c, name) for name in c.inputs}, argv, config=c)
    runtime.apply_threads()
    pool_table = load_molecules(c.pool, "pool", unlabeled=True)
    loaded: dict[str, Any] = {}  # each split table read once (the study gives one file as exclude, train and valid)

    def split_input(path: str | None, what: str):
        if path is not None and path not in loaded:
            loaded[path] = load_molecules(path, what)
        return loaded.get(path) if path is not None else None

    split_table = split_input(c.exclude, "split")
    train_table = split_input(c.train, "train") if c.train else split_table
    valid_table = split_input(c.valid, "valid") if c.valid else split_table
    score_table = read_table(c.scores) if c.scores else None
    options = dict(k=c.k, threshold=c.threshold, seed=seed, passes=c.passes, uncertainty=c.uncertainty,
                   projection_dim=c.projection_dim)
    checks: dict[str, Any] = {}
    chosen, record = run_selection(pool_table, c.strategy, options, split_table, c.guarded_splits, train_table,
                                   c.model, score_table, c.truncate, bf16=c.bf16, device=runtime.device,
                                   valid=valid_table, checks=checks)
    write_table(chosen, c.output)
    recorder.write(c.output, extra={"selection": record, **checks})
    return SelectResult(chosen, record, checks)


def guard_pool(pool: pl.DataFrame, split: pl.DataFrame | None, splits: tuple[str, ...]) -> tuple[pl.DataFrame, dict]:
    """Drop pool molecules that are the same compound (InChIKey, or stereo-free skeleton) as a molecule in the
    excluded splits; report them. Returns the kept pool and a summary for the manifest."""
    import polars as pl

    from molpeft_cli.chem.audit import leaking_ids

    if split is None:
        return pool, {"excluded": 0}
    if "split" not in split.columns:
        raise SettingError("exclude", "{setting} needs a split table (with a `split` column)")
    leaking, summary = leaking_ids(split, pool, splits)
    if leaking:
        log.warning(f"excluded {len(leaking)} pool molecules that are {'/'.join(splits)} compounds "
                    f"({summary.same_inchikey} same InChIKey, {summary.same_skeleton - summary.same_inchikey} "
                    f"same stereo-free skeleton): {', '.join(leaking[:5])}{' ...' if len(leaking) > 5 else ''}")
    return pool.filter(~pl.col("mol_id").is_in(leaking)), {
        "excluded": len(leaking), "excluded_ids": leaking, "splits": list(splits),
        "same_inchikey": summary.same_inchikey, "same_skeleton": summary.same_skeleton}


def run_selection(pool: pl.DataFrame, strategy: str, options: dict, split: pl.DataFrame | None,
                  excluded_splits: tuple[str, ...], train: pl.DataFrame | None, model: str | None,
                  scores: pl.DataFrame | None, truncate: bool, bf16: bool = False,
                  device: str = "auto", valid: pl.DataFrame | None = None,
                  checks: dict | None = None) -> tuple[pl.DataFrame, dict]:
    """The guard (against `split`'s excluded splits), then the strategy, with the inputs its registry entry says it
    needs (`train`'s train split, `valid`'s valid split, the `model` checkpoint, the `scores` table), then the
    strategy's own check, if it has one (its manifest keys go into `checks`). Returns the chosen rows and what the
    manifest records of them."""
    from molpeft_cli.selection import REGISTRY, SelectionInputs, select_pool

    if strategy not in REGISTRY:
        raise SettingError("strategy", f"unknown {{setting}} {strategy!r}; choose one of {', '.join(REGISTRY)}")
    entry = REGISTRY[strategy]
    kept, guard = guard_pool(pool, split, excluded_splits)
    if kept.height == 0:
        raise MolpeftError("no pool molecules left after the leakage guard")
    accepted = {f.name for f in fields(entry.config_cls)}
    config = entry.config_cls(**{k: v for k, v in options.items() if k in accepted and v is not None})
    loaded = _load_finetuned(model, device) if "model" in entry.needs and model is not None else None
    inputs = SelectionInputs(kept, train=train, valid=valid, scores=scores, model=loaded, truncate=truncate,
                             bf16=bf16)
    kept, context = entry.context(inputs)
    config = config.for_task(context.task)
    chosen = select_pool(kept, strategy, config, context)
    if entry.check is not None and checks is not None:
        checks.update(entry.check(inputs, config, context))
    log.info(f"{strategy}: chose {chosen.height} of {kept.height} pool molecules"
             + (f" ({guard['excluded']} excluded as valid/test compounds)" if guard["excluded"] else ""))
    record = {"guard": guard, "config": config.to_dict(), "chosen": chosen.height}
    if context.task == CLASSIFICATION:  # new keys for classification only; regression records stay as they were
        record["task"] = context.task
        uncertainty = getattr(config, "uncertainty", None)
        if uncertainty is not None:
            record["uncertainty"] = uncertainty
            log.info(f"{strategy}: score = {record['uncertainty']} of the classification checkpoint's "
                     "probabilities")
    return chosen, record


def _load_finetuned(checkpoint: str, device: str):
    from molpeft_cli.training.checkpoint import load_finetuned

    return load_finetuned(checkpoint, device)
