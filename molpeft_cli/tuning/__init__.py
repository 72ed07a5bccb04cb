"""`molpeft tune`: a small grid sweep of the fine-tuning recipe (learning rate; LoRA rank and alpha), scored on the
validation split only. The per-method defaults in the adapter registry were chosen with it (see `grid.py`)."""

from molpeft_cli.tuning.grid import DEFAULT_GRIDS, Grid, grid_for
from molpeft_cli.tuning.sweep import SweepResult, run_sweep

__all__ = ["DEFAULT_GRIDS", "Grid", "SweepResult", "grid_for", "run_sweep"]
