"""Aggregation, statistics, figures and Markdown/HTML rendering of a `molpeft run` directory.

Use from Python: `build_report(run_dir, out_dir)` (options in `ReportOptions`).
"""

from molpeft_cli.report.analysis import ReportOptions
from molpeft_cli.report.baseline import ForestConfig
from molpeft_cli.report.build import build_report

__all__ = ["ForestConfig", "ReportOptions", "build_report"]
