"""`lcmd` (regression): largest cluster maximum distance (Holzmueller et al. 2023, as in bmdal-reg) over the
last-layer features of the fine-tuned model: the head's input (the pooled embedding, with the molecule features
when the head takes them), which is the gradient of the prediction in the last linear layer's weights. The training
molecules are the first centres; each step takes the cluster (points by nearest centre) with the largest sum of
squared distances and picks its point farthest from the centre; score = that distance. Written here (bmdal-reg is
not a dependency). Classification checkpoints use badge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs
from molpeft_cli.selection.kcenter import embeddings_of, picks_frame, sequential_k
from molpeft_cli.tasks import REGRESSION

if TYPE_CHECKING:
    import polars as pl

NAME = "lcmd"


@dataclass
class LcmdConfig(SelectionConfig):
    """k, or a threshold: stop when the pick's distance to its centre falls below this."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(f"lcmd threshold is a distance (>= 0), got {self.threshold}")


def select_lcmd(pool: pl.DataFrame, config: LcmdConfig, context: SelectionContext) -> pl.DataFrame:
    from molpeft_cli.selection.greedy import lcmd_greedy
    from molpeft_cli.selection.model_features import require_task

    require_task(NAME, context.task, REGRESSION, "badge")
    points, centres = embeddings_of(context, NAME, head_input=True)
    if len(points) != pool.height:
        raise MolpeftError(f"{len(points)} feature rows for {pool.height} pool rows")
    picked, scores = lcmd_greedy(points, centres, sequential_k(config, pool.height), config.threshold)
    return picks_frame(pool, picked, scores, NAME)


def lcmd_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """As kcenter's: the pool in mol_id order, the checkpoint, the pool's and the train split's batches; refused
    for a classification checkpoint."""
    from molpeft_cli.selection.model_features import model_context, require_task

    require_task(NAME, inputs.require("model", NAME).task, REGRESSION, "badge")
    return model_context(inputs, NAME, reference="train")
