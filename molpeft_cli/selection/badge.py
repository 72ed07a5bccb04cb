"""`badge` (classification): BADGE (Ash et al. 2020): gradient embeddings of the last layer at the predicted label,
chosen by k-means++ seeding. For the one-logit head, the gradient of the checkpoint's training loss (BCE, positives
weighted by its pos_weight w) in the last linear layer's weights at the label y^ = [p >= 0.5] is
g = dL/dz x, with x the head's input (pooled embedding, and molecule features when the head takes them) and
dL/dz = p - 1 times w for y^ = 1, p for y^ = 0 (the bias's gradient, dL/dz itself, is left out as in BADGE). The
first pick is the largest g, each next one drawn (seeded) with probability proportional to its squared distance
to the nearest earlier pick; score = that distance at the time it was picked. Regression checkpoints use lcmd."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs
from molpeft_cli.selection.kcenter import picks_frame, sequential_k
from molpeft_cli.tasks import CLASSIFICATION

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

NAME = "badge"


@dataclass
class BadgeConfig(SelectionConfig):
    seed: int = field(default=0, metadata={"help": "seed of the k-means++ draws"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None:
            raise SettingError("threshold", "strategy badge draws its picks at random: give k, not {setting}")


def gradient_embeddings(head_input: np.ndarray, logits: np.ndarray, pos_weight: float | None) -> np.ndarray:
    """BADGE's last-layer gradient embedding of each row (module docstring)."""
    import numpy as np

    p = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
    w = 1.0 if pos_weight is None else float(pos_weight)
    slope = np.where(p >= 0.5, w * (p - 1.0), p)
    return slope[:, None] * np.asarray(head_input, dtype=np.float64)


def select_badge(pool: pl.DataFrame, config: BadgeConfig, context: SelectionContext) -> pl.DataFrame:
    from molpeft_cli.selection.greedy import kmeanspp_seeding
    from molpeft_cli.selection.model_features import head_features, require_model, require_task

    if context.embeddings is not None:
        points = context.embeddings
    else:
        require_model(context, NAME)
        require_task(NAME, context.task, CLASSIFICATION, "lcmd")
        _, head_input, logits = head_features(context.model, list(context.batches))
        points = gradient_embeddings(head_input, logits, context.pos_weight)
    if len(points) != pool.height:
        raise MolpeftError(f"{len(points)} gradient embeddings for {pool.height} pool rows")
    picked, scores = kmeanspp_seeding(points, sequential_k(config, pool.height), config.seed)
    return picks_frame(pool, picked, scores, NAME)


def badge_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool in mol_id order, the checkpoint and the pool's batches; refused for a regression checkpoint."""
    from molpeft_cli.selection.model_features import model_context, require_task

    require_task(NAME, inputs.require("model", NAME).task, CLASSIFICATION, "lcmd")
    return model_context(inputs, NAME)
