"""Kept for code that imported these from here: they live in the library now (`molpeft_cli.data`)."""

from molpeft_cli.data.loading import load_molecules
from molpeft_cli.data.loading import log_build as report_build
from molpeft_cli.data.recorder import Recorder

__all__ = ["Recorder", "load_molecules", "report_build"]
