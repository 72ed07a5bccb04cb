"""What every selection strategy shares: the config base (k or threshold), the inputs beyond the pool table,
deterministic ordering by score, and the output table (pool rows + score, rank, strategy). Loads without polars,
numpy or torch (they are imported where used), so the registry is cheap to ask."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from molpeft_cli.errors import MolpeftError, SettingError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

log = logging.getLogger(__name__)

OUTPUT_COLUMNS: dict[str, str] = {
    "score": "the strategy's score (documented per strategy); higher was chosen first except for maxmin",
    "rank": "1 = chosen first",
    "strategy": "name of the selection strategy",
}


@dataclass
class SelectionConfig:
    k: int = field(
        default=185, metadata={"help": "how many pool molecules to choose (ignored with --threshold)"}
    )
    threshold: float | None = field(
        default=None, metadata={"help": "choose every molecule whose score passes this instead of a fixed k"}
    )

    def __post_init__(self) -> None:
        if self.k < 1:
            raise SettingError("k", f"{{setting}} must be >= 1, got {self.k}")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise MolpeftError(f"threshold must be a finite number, got {self.threshold}")

    def to_dict(self) -> dict:
        return asdict(self)

    def for_task(self, task: str | None) -> SelectionConfig:
        """This config with its task-dependent settings resolved for a checkpoint of `task` (None: no checkpoint
        given); a strategy whose settings depend on the task overrides it."""
        return self


@dataclass
class SelectionContext:
    """Inputs some strategies need beyond the pool table; each strategy says which it reads."""

    train_smiles: Sequence[str] | None = None  # maxmin: stay far from these too
    scores: pl.DataFrame | None = None  # influence: mol_id, score (the `molpeft influence` table)
    model: Any = None  # mcdropout: a torch.nn.Module with Dropout layers
    # mcdropout: predict(model, batch) -> (rows,) tensor: the prediction (classification: the probability)
    predict: Callable[[Any, Any], Any] | None = None
    batches: Iterable[Any] | None = None  # mcdropout: pool batches, in pool row order
    task: str | None = None  # the checkpoint's task (tasks.TASKS), where a strategy runs one; None: regression
    # kcenter, lcmd: the training split's batches (their embeddings are the first centres); gradsim: the validation
    # split's labelled batches (the target gradient)
    reference_batches: Sequence[Any] | None = None
    pos_weight: float | None = None  # classification: the positive rows' weight in the checkpoint's training loss
    # (pool rows, d) vectors given instead of a model: kcenter, lcmd: embeddings; badge: gradient embeddings
    embeddings: Any = None
    reference_embeddings: Any = None  # kcenter, lcmd: (rows, d) first centres given instead of reference_batches


# what a strategy may need beyond the pool (`Strategy.needs`), and the select step's setting that gives it
NEEDS: dict[str, str] = {
    "model": "a fine-tuned checkpoint",
    "scores": "the table from the influence step",
    "train": "a split table whose train molecules the picks stay far from",
    "valid": "a split table whose valid molecules are the target (default: the excluded split table)",
}


@dataclass
class SelectionInputs:
    """What the select step loaded, for a strategy's context builder: the pool after the leakage guard and the
    inputs that were given (None where not); each builder reads the ones its strategy needs."""

    pool: pl.DataFrame
    train: pl.DataFrame | None = None  # a split table (its `train` rows)
    valid: pl.DataFrame | None = None  # a split table (its `valid` rows: gradsim's target, mcdropout's check)
    scores: pl.DataFrame | None = None  # mol_id, score
    model: Any = None  # a loaded fine-tuned checkpoint (training.checkpoint.load_finetuned)
    truncate: bool = True  # cut over-long molecules when encoding the pool
    bf16: bool = False  # forward passes under bfloat16 autocast

    def require(self, need: str, strategy: str) -> Any:
        """The input `need` (a NEEDS key, also the setting's name), or a SettingError saying the strategy needs it."""
        value = getattr(self, need)
        if value is None:
            raise SettingError(need, f"{{strategy}} {strategy} needs {{setting}} ({NEEDS[need]})")
        return value


def no_context(inputs: SelectionInputs) -> tuple[pl.DataFrame, SelectionContext]:
    """The context of a strategy that needs nothing beyond the pool."""
    return inputs.pool, SelectionContext()


def check_pool(pool: pl.DataFrame, columns: Sequence[str] = ("mol_id",)) -> None:
    import polars as pl

    from molpeft_cli.data.tables import require_columns

    require_columns(pool, list(columns), "pool table")
    if pool.height == 0:
        raise MolpeftError("the pool table has no rows to select from")
    duplicated = pool.filter(pl.col("mol_id").is_duplicated())["mol_id"].unique().sort()
    if len(duplicated):
        raise MolpeftError(f"pool mol_id values repeat: {', '.join(map(str, duplicated[:5]))}")


def capped_k(k: int, available: int, what: str) -> int:
    if k > available:
        log.warning(f"asked for k={k} but only {available} {what}; choosing all of them")
    return min(k, available)


def order_by_score(
    mol_ids: Sequence[str], scores: np.ndarray, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Row indices by score descending, ties by mol_id ascending; NaN and ineligible rows left out."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    keep = ~np.isnan(scores) if eligible is None else (~np.isnan(scores) & eligible)
    order = np.lexsort((np.asarray(mol_ids, dtype=str), -scores))
    return order[keep[order]]


def choose_top(
    pool: pl.DataFrame, scores: np.ndarray, config: SelectionConfig, eligible: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the chosen rows in rank order: the top k by score, or all with score >= threshold."""
    import numpy as np
    import polars as pl

    scores = np.asarray(scores, dtype=np.float64)
    if config.threshold is not None:
        passes = scores >= config.threshold
        eligible = passes if eligible is None else (eligible & passes)
    order = order_by_score(pool["mol_id"].cast(pl.String).to_list(), scores, eligible)
    if config.threshold is not None:
        return order
    return order[: capped_k(config.k, len(order), "eligible pool molecules")]


def selection_frame(
    pool: pl.DataFrame,
    order: Sequence[int],
    scores: np.ndarray,
    strategy: str,
    extra: dict[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """Chosen pool rows in rank order, with `score` (float64), `rank` (1 = first chosen) and `strategy`."""
    import numpy as np
    import polars as pl

    columns = [pl.Series("score", np.asarray(scores, dtype=np.float64), dtype=pl.Float64, nan_to_null=True)]
    columns += [
        pl.Series(name, np.asarray(values, dtype=np.float64)) for name, values in (extra or {}).items()
    ]
    index = np.asarray(order, dtype=np.int64)
    chosen = pool.with_columns(columns)[index] if len(index) else pool.with_columns(columns).head(0)
    return chosen.with_columns(
        pl.int_range(1, chosen.height + 1, dtype=pl.Int64).alias("rank"),
        pl.lit(strategy, dtype=pl.String).alias("strategy"),
    )
