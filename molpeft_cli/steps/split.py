"""The `split` step: assign train/valid/test with a DeepChem splitter and summarise the split's quality."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.choices import SPLIT_STRATEGIES
from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime

log = logging.getLogger(__name__)


@dataclass
class SplitConfig:
    command: ClassVar[str] = "split"

    input: str = argument(help="Molecule table (or raw CSV/parquet); '-' for stdin.", metavar="INPUT")
    output: str = option(help="Split table ('-' for stdout); with --compare, the comparison table.",
                         flags=("--output", "-o"))
    strategy: str = option("scaffold", f"One of {', '.join(SPLIT_STRATEGIES)}.")
    frac: tuple[float, float, float] = option((0.8, 0.1, 0.1), "Train, valid, test fractions.")
    seed: int | None = option(None, "Split seed (default: the global --seed).")
    summary: str | None = option(None, "Write the split-quality summary here as JSON.")
    compare: bool = option(False, "Run all six strategies; -o gets one comparison table.")
    stratify: bool = option(False, "Random strategy, binary labels: keep the class proportions in every split.")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("input", "output", "summary", "config"))
        from molpeft_cli.chem.splitters import check_fractions

        self.frac = tuple(check_fractions(self.frac))
        check_numbers(self, {"seed": (0, True)})
        if not self.compare and self.strategy not in SPLIT_STRATEGIES:
            raise SettingError("strategy", f"unknown split strategy {self.strategy!r} ({{setting}}); choose one of "
                               f"{', '.join(SPLIT_STRATEGIES)}")
        if self.stratify:
            from molpeft_cli.chem.splitters import check_stratify

            check_stratify("all six strategies" if self.compare else self.strategy)


@dataclass
class SplitResult:
    table: Any  # polars.DataFrame: the split table (with --compare: the last strategy's)
    summaries: list[Any]  # chem.splitters.SplitSummary, one per strategy
    output: str


def split(config: SplitConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> SplitResult:
    """Split a molecule table into train/valid/test and summarise scaffold overlap and test-to-train similarity."""
    import polars as pl

    from molpeft_cli.chem.splitters import (
        MIN_CLASS_MOLECULES,
        MIN_SPLIT_MOLECULES,
        STRATEGIES,
        check_fractions,
        check_stratify,
        fraction_shortfall,
        split_molecules,
        summarize_split,
        thin_classes,
        thin_splits,
    )
    from molpeft_cli.data.atomic import write_text_atomic
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table

    c = config
    check_step_outputs(c, {"output": False, "summary": False}, ("input", "config"))
    check_fractions(c.frac)
    seed = runtime.seed_for(c.seed)
    table = load_molecules(c.input, "input")
    if c.stratify:
        check_stratify(c.strategy, table["label"])
    params = dict(strategy="all" if c.compare else c.strategy, frac=list(c.frac), compare=c.compare)
    if c.stratify:  # only when set, so the params of every other split stay as they were
        params["stratify"] = True
    recorder = Recorder("split", params, seed, {"input": c.input, "config": c.config}, argv, config=c)
    strategies = list(STRATEGIES) if c.compare else [c.strategy]
    summaries = []
    split_table = None
    for name in strategies:
        log.info(f"splitting {table.height} molecules with the {name} splitter"
                 + (" (stratified by class)" if c.stratify else ""))
        split_table = split_molecules(table, name, c.frac, seed, stratify=c.stratify)
        shortfall = fraction_shortfall(split_table, name, c.frac)
        if shortfall:  # warned, and recorded in the summary (the key only then)
            log.warning(SettingError("frac", shortfall))
        thin = thin_splits(split_table)
        if thin:  # said, and recorded in the summary (the key only then); a warning would be noise on toy data
            log.info(f"the {name} split has fewer than {MIN_SPLIT_MOLECULES} molecules in {', '.join(thin)}: "
                     "metrics and early stopping on so few are noise; use more molecules or larger fractions")
        summary = summarize_split(split_table, name)
        summary.shortfall = SettingError("frac", shortfall).render() if shortfall else None
        summary.small_splits = thin or None
        thin = thin_classes(summary.class_counts) if summary.class_counts else []
        if thin:
            text = (f"the {name} split has fewer than {MIN_CLASS_MOLECULES} molecules of a class ("
                    f"{', '.join(thin)}): metrics and early stopping on it will be noisy; use more molecules or "
                    "larger fractions")
            log.warning(text if c.stratify or name != "random" else SettingError("stratify", text + " ({setting} "
                                                                                 "keeps the class proportions)"))
        summaries.append(summary)
    if c.summary:
        payload = [s.to_dict() for s in summaries] if c.compare else summaries[0].to_dict()
        write_text_atomic(c.summary, json.dumps(payload, indent=2) + "\n")
    if c.compare:
        write_table(pl.DataFrame([s.comparison_row() for s in summaries]), c.output)
    else:
        write_table(split_table, c.output)
    recorder.write(c.output, extra={"summary": [s.to_dict() for s in summaries]})
    return SplitResult(split_table, summaries, c.output)
