"""The `report` step: turn a run directory, any folder of evaluations, or metrics tables into report.md,
headline.md, a self-contained report.html, figures and tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime

MIN_RESAMPLES = 100
RUN_DIR_HELP = ("A run directory written by `molpeft run`; or any folder of evaluations (its *.metrics.parquet "
                "tables are found recursively, any file names); or one or more metrics tables "
                "(a.metrics.parquet b.metrics.parquet ...). Each cell is read from its `molpeft eval` manifest and "
                "its checkpoint's finetune.json and manifest.json: the minimal layout is the metrics table, its "
                "predictions table and their .manifest.json files, and the checkpoint directory they name. The "
                "route is two-stage when the checkpoint's base model is a `molpeft mlm` output, direct otherwise. "
                "run.json, data/split.parquet (else the table eval scored), data/pool.parquet, data/audit.json, "
                "selections/ and scores/ are used when present; the report says what it leaves out without them.")


@dataclass
class ReportConfig:
    command: ClassVar[str] = "report"

    output: str = option(help="Report folder (replaced as a whole).", flags=("--output", "-o"))
    # declared after `output` only because it has a default (None: refused below, with one line)
    run_dir: list[str] | None = argument(None, help=RUN_DIR_HELP, metavar="RUN_DIR|METRICS")
    overwrite: bool = option(False, "Replace an existing folder at --output that is not a `molpeft report` "
                             "output (it is renamed aside, and removed once the new output is written).")
    resamples: int = option(2000, "Bootstrap resamples for the confidence intervals.")
    seed: int | None = option(None, "Bootstrap seed (default: the global --seed).")
    baseline: bool = option(True, "Add the random-forest baseline (a classifier for classification; cached in "
                            "RUN_DIR/baseline, or in the metrics tables' common folder).")
    rf_trees: int = option(500, "Trees in the random-forest baseline.")
    influence_check: str | None = option(None, "`molpeft influence-check` table: the influence section gives the "
                                         "LDS of the run's setting (default: RUN_DIR/scores/influence-check.parquet "
                                         "if present).")
    chemprop: bool = option(True, "Add the chemprop D-MPNN baseline when chemprop is installed (cached in "
                            "RUN_DIR/baseline).")
    chemprop_epochs: int = option(50, "Epochs of the chemprop baseline (chemprop's default 50).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("output", "influence_check", "config"))
        if isinstance(self.run_dir, str | Path):  # one directory, as a plan or the Python API may give it
            self.run_dir = [str(self.run_dir)]
        if not self.run_dir:
            raise SettingError("run_dir", "give {setting}: a run directory, a folder of evaluations, or metrics "
                               "tables (*.metrics.parquet)")
        if any(not str(path).strip() for path in self.run_dir):
            raise SettingError("run_dir", "{setting} is empty; give a run directory or metrics tables")
        # a bootstrap interval from fewer resamples than this is noise in its second digit
        check_numbers(self, {"resamples": (MIN_RESAMPLES, True), "rf_trees": (1, True),
                             "chemprop_epochs": (1, True), "seed": (0, True)})


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
    """Summarise a run: the main metric's matrix over seeds (test MSE; ROC-AUC for classification), paired
    bootstrap intervals, trade-offs, parity (ROC and calibration curves), data and audit."""
    from molpeft_cli.report import ForestConfig, ReportOptions
    from molpeft_cli.report import build_report as write_report

    c = config
    from molpeft_cli.report.chemprop_baseline import ChempropConfig

    check_step_outputs(c, {"output": True}, ("run_dir", "config"))
    options = ReportOptions(n_resamples=c.resamples, seed=runtime.seed_for(c.seed), baseline=c.baseline,
                            forest=ForestConfig(n_trees=c.rf_trees), influence_check=c.influence_check,
                            chemprop=c.chemprop, chemprop_config=ChempropConfig(epochs=c.chemprop_epochs))
    given = [Path(p) for p in c.run_dir]
    return ReportResult(write_report(given[0] if len(given) == 1 else given, Path(c.output), options, argv=argv))
