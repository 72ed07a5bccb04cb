"""The `report` step: turn a run directory into report.md, headline.md, a self-contained report.html, figures and
tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, config_option, option
from molpeft_cli.settings import Runtime


@dataclass
class ReportConfig:
    command: ClassVar[str] = "report"

    run_dir: str = argument(help="Run directory written by `molpeft run`.", metavar="RUN_DIR")
    output: str = option(help="Report folder (replaced as a whole).", flags=("--output", "-o"))
    overwrite: bool = option(False, "Replace an existing folder at --output that is not a `molpeft report` "
                             "output (it is renamed aside, and removed once the new output is written).")
    resamples: int = option(2000, "Bootstrap resamples for the confidence intervals.")
    seed: int | None = option(None, "Bootstrap seed (default: the global --seed).")
    baseline: bool = option(True, "Add the random-forest baseline (cached in RUN_DIR/baseline).")
    rf_trees: int = option(500, "Trees in the random-forest baseline.")
    influence_check: str | None = option(None, "`molpeft influence-check` table: the influence section gives the "
                                         "LDS of the run's setting (default: RUN_DIR/scores/influence-check.parquet "
                                         "if present).")
    chemprop: bool = option(True, "Add the chemprop D-MPNN baseline when chemprop is installed (cached in "
                            "RUN_DIR/baseline).")
    chemprop_epochs: int = option(50, "Epochs of the chemprop baseline (chemprop's default 50).")
    config: str | None = config_option()


@dataclass
class ReportResult:
    directory: Path

    @property
    def html(self) -> Path:
        return self.directory / "report.html"

    @property
    def markdown(self) -> Path:
        return self.directory / "report.md"


def build_report(config: ReportConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> ReportResult:
    """Summarise a run: MSE matrix over seeds, paired bootstrap intervals, trade-offs, parity, data and audit."""
    from molpeft_cli.report import ForestConfig, ReportOptions
    from molpeft_cli.report import build_report as write_report

    c = config
    from molpeft_cli.report.chemprop_baseline import ChempropConfig

    check_step_outputs(c, {"output": True}, ("run_dir", "config"))
    options = ReportOptions(n_resamples=c.resamples, seed=runtime.seed_for(c.seed), baseline=c.baseline,
                            forest=ForestConfig(n_trees=c.rf_trees), influence_check=c.influence_check,
                            chemprop=c.chemprop, chemprop_config=ChempropConfig(epochs=c.chemprop_epochs))
    return ReportResult(write_report(Path(c.run_dir), Path(c.output), options, argv=argv))
