"""The typed Python API of molpeft: one function per study step, a config dataclass in, a result object out.

    from molpeft_cli import api

    api.split(api.SplitConfig("molecules.parquet", output="split.parquet", strategy="scaffold"))

Every function writes its outputs and their manifests exactly as the matching `molpeft` command does (the CLI
calls the same library functions); the manifest records the equivalent command line. Nothing here parses argv or
prints: progress goes to the `logging` logger "molpeft_cli" (configure it as usual, e.g.
`logging.basicConfig(level=logging.INFO)`), and bad settings raise `SettingError` naming the setting.

`runtime` carries what is not part of one step: the default seed, CPU threads and the torch device
(`Runtime(seed=0, threads=None, device="auto")`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from molpeft_cli.errors import InputError, MolpeftError, SettingError
from molpeft_cli.pipeline.study import StudyConfig, StudyResult
from molpeft_cli.progress import ProgressFactory
from molpeft_cli.settings import Runtime
from molpeft_cli.steps.audit import AuditConfig, AuditResult
from molpeft_cli.steps.carve import CarveConfig, CarveResult
from molpeft_cli.steps.data import DataConfig, DataResult
from molpeft_cli.steps.evaluate import EvalConfig, EvalResult
from molpeft_cli.steps.finetune import FinetuneConfig, FinetuneResult
from molpeft_cli.steps.influence import InfluenceConfig, InfluenceResult
from molpeft_cli.steps.influence_check import CheckStepConfig, CheckStepResult
from molpeft_cli.steps.mlm import PretrainConfig, PretrainResult
from molpeft_cli.steps.predict import PredictConfig, PredictResult
from molpeft_cli.steps.report import ReportConfig, ReportResult
from molpeft_cli.steps.select import SelectConfig, SelectResult
from molpeft_cli.steps.split import SplitConfig, SplitResult
from molpeft_cli.steps.tune import TuneConfig, TuneResult
from molpeft_cli.training.mlm_config import MLMConfig
from molpeft_cli.training.options import FinetuneOptions

__all__ = [
    "AuditConfig", "AuditResult", "CarveConfig", "CarveResult", "CheckStepConfig", "CheckStepResult", "DataConfig",
    "DataResult", "EvalConfig", "EvalResult", "FinetuneConfig", "FinetuneOptions", "FinetuneResult", "InfluenceConfig",
    "InfluenceResult", "InputError", "MLMConfig", "MolpeftError", "PredictConfig", "PredictResult", "PretrainConfig",
    "PretrainResult", "ReportConfig", "ReportResult", "Runtime", "SelectConfig", "SelectResult", "SettingError",
    "SplitConfig", "SplitResult", "StudyConfig", "StudyResult", "TuneConfig", "TuneResult", "audit", "build_report",
    "carve", "command_line", "evaluate", "finetune", "influence", "influence_check", "load_data", "predict",
    "pretrain_mlm", "run_study", "select", "split", "tune",
]


def command_line(command: str, config: Any) -> list[str]:
    """The `molpeft` command line that does what `config` does (recorded in the manifests)."""
    from molpeft_cli.schema import to_args

    return ["molpeft", command, *to_args(config)]


def _run(command: str, config: Any, runtime: Runtime | None, **kwargs: Any) -> Any:
    from molpeft_cli.steps import step

    config_cls, function = step(command)
    if not isinstance(config, config_cls):
        raise TypeError(f"{command} takes a {config_cls.__name__}, got {type(config).__name__}")
    return function(config, runtime or Runtime(), argv=command_line(command, config), **kwargs)


def load_data(config: DataConfig, runtime: Runtime | None = None) -> DataResult:
    """A bundled dataset, a CSV/parquet file or a URL -> the standardised molecule table (+ rejects)."""
    return _run("data", config, runtime)


def carve(config: CarveConfig, runtime: Runtime | None = None) -> CarveResult:
    """Set aside a pool of whole scaffold groups (for a study without an external pool)."""
    return _run("carve", config, runtime)


def split(config: SplitConfig, runtime: Runtime | None = None) -> SplitResult:
    """Assign train/valid/test with a DeepChem splitter; the result carries the split-quality summaries."""
    return _run("split", config, runtime)


def audit(config: AuditConfig, runtime: Runtime | None = None) -> AuditResult:
    """Find pool molecules that are the same compound as dataset molecules."""
    return _run("audit", config, runtime)


def pretrain_mlm(config: PretrainConfig, runtime: Runtime | None = None,
                 progress: ProgressFactory | None = None) -> PretrainResult:
    """Stage-1 masked-language-model training on SMILES; writes a checkpoint directory `finetune` can load."""
    return _run("mlm", config, runtime, progress=progress)


def finetune(config: FinetuneConfig, runtime: Runtime | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> FinetuneResult:
    """Stage-2 fine-tuning (full, BitFit, LoRA or (IA)3) with early stopping on the validation split."""
    return _run("finetune", config, runtime, on_epoch=on_epoch)


def evaluate(config: EvalConfig, runtime: Runtime | None = None) -> EvalResult:
    """Predictions and metrics (n, MSE, RMSE, MAE, R2, Spearman) of a checkpoint on one split."""
    return _run("eval", config, runtime)


def predict(config: PredictConfig, runtime: Runtime | None = None) -> PredictResult:
    """Predictions for SMILES; invalid ones get a per-row error."""
    return _run("predict", config, runtime)


def influence(config: InfluenceConfig, runtime: Runtime | None = None) -> InfluenceResult:
    """Influence of each pool molecule on the validation loss (LiSSA, CG or exact inverse-Hessian products)."""
    return _run("influence", config, runtime)


def influence_check(config: CheckStepConfig, runtime: Runtime | None = None) -> CheckStepResult:
    """The LDS of influence scores against retraining with random pool subsets (one row per scores table)."""
    return _run("influence-check", config, runtime)


def select(config: SelectConfig, runtime: Runtime | None = None) -> SelectResult:
    """Choose pool molecules (random, mcdropout, maxmin, influence, all) after the leakage guard."""
    return _run("select", config, runtime)


def build_report(config: ReportConfig, runtime: Runtime | None = None) -> ReportResult:
    """report.md, headline.md, report.html, figures and tables for a run directory."""
    return _run("report", config, runtime)


def tune(config: TuneConfig, runtime: Runtime | None = None) -> TuneResult:
    """A grid sweep of the fine-tuning recipe scored on the validation split (tune.md, best.toml, tables)."""
    return _run("tune", config, runtime)


def run_study(config: StudyConfig, runtime: Runtime | None = None) -> StudyResult:
    """The whole study for a profile, resumable: the same steps `molpeft run` runs, in this process."""
    from molpeft_cli.pipeline.study import run_study as run

    return run(config, runtime or Runtime(), argv=command_line("run", config))
