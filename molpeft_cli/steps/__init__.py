"""One library function per command (data, carve, split, audit, mlm, finetune, eval, predict, influence, select,
report, tune, influence-check): a config dataclass in, a result object out, outputs and manifests written. The CLI
commands and the pipeline both call these; `molpeft_cli.api` is the documented face over them.

Each function takes `runtime` (seed default, threads, device) and `argv`, the command line it stands for (recorded
in the manifests; the pipeline's resume check compares it); neither parses argv nor prints.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# command name -> (module, config class, function); modules load on first use (they import polars, torch, ...)
STEPS: dict[str, tuple[str, str, str]] = {
    "data": ("data", "DataConfig", "load_data"),
    "carve": ("carve", "CarveConfig", "carve"),
    "split": ("split", "SplitConfig", "split"),
    "audit": ("audit", "AuditConfig", "audit"),
    "mlm": ("mlm", "PretrainConfig", "pretrain_mlm"),
    "finetune": ("finetune", "FinetuneConfig", "finetune"),
    "eval": ("evaluate", "EvalConfig", "evaluate"),
    "predict": ("predict", "PredictConfig", "predict"),
    "influence": ("influence", "InfluenceConfig", "influence"),
    "select": ("select", "SelectConfig", "select"),
    "report": ("report", "ReportConfig", "build_report"),
    "tune": ("tune", "TuneConfig", "tune"),
    "influence-check": ("influence_check", "CheckStepConfig", "influence_check"),
}


def step(command: str) -> tuple[type, Callable[..., Any]]:
    """(config class, function) of a step by its command name."""
    module_name, config_name, function_name = STEPS[command]
    module = importlib.import_module(f"molpeft_cli.steps.{module_name}")
    return getattr(module, config_name), getattr(module, function_name)
