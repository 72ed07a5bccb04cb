"""`kcenter`: core-set greedy (Sener & Savarese 2018) in the fine-tuned model's pooled embedding: the training
split's molecules are the first centres, and each pick is the pool molecule farthest (Euclidean) from its nearest
centre (training molecule or earlier pick); score = that distance at the time it was picked. For regression and
classification alike (the embedding is what the head sees). The rank is the pick order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from molpeft_cli.errors import MolpeftError
from molpeft_cli.selection.base import SelectionConfig, SelectionContext, SelectionInputs, capped_k, selection_frame

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

NAME = "kcenter"


@dataclass
class KCenterConfig(SelectionConfig):
    """k, or a threshold: stop when the farthest pool molecule is closer than this to every centre."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.threshold is not None and self.threshold < 0:
            raise MolpeftError(f"kcenter threshold is a distance (>= 0), got {self.threshold}")


def sequential_k(config: SelectionConfig, available: int) -> int:
    """How many picks a sequential strategy makes: k (capped at the pool, with a warning), or the whole pool when a
    threshold stops it."""
    return available if config.threshold is not None else capped_k(config.k, available, "pool molecules")


def picks_frame(pool: pl.DataFrame, picked: np.ndarray, pick_scores: np.ndarray, strategy: str) -> pl.DataFrame:
    """The selection table of a sequential strategy: score = the pick's score, null for rows not picked."""
    import numpy as np

    scores = np.full(pool.height, np.nan)
    scores[picked] = pick_scores
    return selection_frame(pool, picked, scores, strategy)


def embeddings_of(context: SelectionContext, strategy: str, head_input: bool) -> tuple[np.ndarray, np.ndarray]:
    """(pool vectors, reference vectors): the context's own, or from the model: the pooled embedding, or
    (`head_input`) the head's input (pooled embedding and molecule features)."""
    import numpy as np

    from molpeft_cli.selection.model_features import head_features, require_model

    if context.embeddings is not None:
        points = np.asarray(context.embeddings, dtype=np.float64)
        reference = context.reference_embeddings
        return points, np.zeros((0, points.shape[1])) if reference is None else np.asarray(reference, np.float64)
    require_model(context, strategy)
    if not context.reference_batches:
        raise MolpeftError(f"strategy {strategy!r} needs the training split's batches (its first centres)")
    column = 1 if head_input else 0
    return (head_features(context.model, list(context.batches))[column],
            head_features(context.model, list(context.reference_batches))[column])


def select_kcenter(pool: pl.DataFrame, config: KCenterConfig, context: SelectionContext) -> pl.DataFrame:
    from molpeft_cli.selection.greedy import kcenter_greedy

    points, centres = embeddings_of(context, NAME, head_input=False)
    if len(points) != pool.height:
        raise MolpeftError(f"{len(points)} embeddings for {pool.height} pool rows")
    picked, scores = kcenter_greedy(points, centres, sequential_k(config, pool.height), config.threshold)
    return picks_frame(pool, picked, scores, NAME)


def kcenter_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool in mol_id order, the checkpoint and the batches of the pool and of the train split's rows."""
    from molpeft_cli.selection.model_features import model_context

    return model_context(inputs, NAME, reference="train")
