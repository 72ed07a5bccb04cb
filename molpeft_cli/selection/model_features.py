"""What the model-based strategies (egl, kcenter, badge, lcmd, gradsim) read from a fine-tuned checkpoint: the pool
(and reference split) as batch dicts, the pooled embedding and the head's input and raw output per row, and the
per-row gradients over the trainable (adapted) parameters. Forward passes run in eval mode (dropout off) in
float32; rows come back in the order of the batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.selection.base import SelectionContext, SelectionInputs
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

FORWARD_ROWS = 64  # rows per forward pass for embeddings
GRADIENT_ROWS = 16  # rows per per-sample-gradient pass: (rows, trainable parameters) floats at once


def require_task(strategy: str, task: str | None, allowed: str, instead: str) -> None:
    """A SettingError naming the checkpoint's task when `strategy` applies to `allowed` only."""
    task = task or REGRESSION
    if task != allowed:
        raise SettingError("strategy", f"{{setting}} {strategy} applies to {allowed} checkpoints only; this "
                           f"checkpoint's task is {task}: use {{setting}} {instead}")


def split_rows(table: pl.DataFrame, split: str, need: str, strategy: str) -> pl.DataFrame:
    """The `split` rows of a split table given as the `need` setting (a SettingError when there are none)."""
    import polars as pl

    if "split" not in table.columns:
        raise SettingError(need, "{setting} needs a split table (with a `split` column)")
    rows = table.filter(pl.col("split") == split)
    if rows.height == 0:
        raise SettingError(need, f"{{setting}} has no {split} rows for strategy {strategy}")
    return rows


def table_batches(ft: Any, table: pl.DataFrame, truncate: bool, labelled: bool, what: str,
                  rows: int = FORWARD_ROWS) -> list[dict]:
    """Batch dicts of `table` in row order (labels standardised as in fine-tuning when `labelled`)."""
    import polars as pl

    from molpeft_cli.training.batching import batch_dicts
    from molpeft_cli.training.regression import encode

    smiles = table["smiles_canonical"].to_list()
    enc = encode(ft.tokenizer, smiles, truncate, ids=table["mol_id"].cast(pl.String).to_list(), what=what)
    labels = None
    if labelled:
        if table["label"].null_count():
            raise MolpeftError(f"{table['label'].null_count()} {what} molecules have no label; per-sample loss "
                               "gradients need labels")
        labels = (table["label"].cast(pl.Float64).to_numpy() - ft.label_mean) / ft.label_std
    return batch_dicts(enc.input_ids, rows, ft.tokenizer.pad_token_id, labels=labels,
                       features=ft.featurize(smiles))


def model_context(inputs: SelectionInputs, strategy: str, *, labelled: bool = False, reference: str | None = None,
                  reference_labelled: bool = False, rows: int = FORWARD_ROWS) -> tuple[pl.DataFrame, SelectionContext]:
    """The pool in mol_id order (so the choice does not depend on the table's row order) and a context with the
    checkpoint's model, task, positive weight and pool batches; `reference` ("train" or "valid"): that input's
    split rows as `reference_batches`."""
    import polars as pl

    from molpeft_cli.influence.losses import checkpoint_pos_weight

    ft = inputs.require("model", strategy)
    pool = inputs.pool.sort(pl.col("mol_id").cast(pl.String))
    reference_batches = None
    if reference is not None:
        table = split_rows(inputs.require(reference, strategy), reference, reference, strategy)
        reference_batches = table_batches(ft, table, inputs.truncate, reference_labelled, reference, rows)
    weight = checkpoint_pos_weight(ft.meta) if ft.task == CLASSIFICATION else None
    return pool, SelectionContext(model=ft.model, task=ft.task, pos_weight=weight,
                                  batches=table_batches(ft, pool, inputs.truncate, labelled, "pool", rows),
                                  reference_batches=reference_batches)


def require_model(context: SelectionContext, strategy: str) -> None:
    if context.model is None or context.batches is None:
        raise MolpeftError(f"strategy {strategy!r} needs a model and pool batches (or embeddings)")


def head_features(model: Any, batches: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pooled embedding, the head's input, raw output) per row, float64: the pooled vector the head sees, that
    vector with the molecule features beside it when the head takes them (what its last linear layer multiplies),
    and the head's output (standardised prediction, or the logit)."""
    import numpy as np
    import torch

    from molpeft_cli.influence.objective import eval_mode

    device = next(model.parameters()).device
    pooled, inputs, raw = [], [], []
    with eval_mode(model), torch.no_grad():
        for batch in batches:
            out = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
            p = out.pooled_output.double()
            pooled.append(p.cpu().numpy())
            extra = batch.get("features")
            inputs.append((p if extra is None else torch.cat([p, extra.to(p)], dim=-1)).cpu().numpy())
            raw.append(out.logits.reshape(-1).double().cpu().numpy())
    if not pooled:
        raise MolpeftError("no rows to embed")
    return np.concatenate(pooled), np.concatenate(inputs), np.concatenate(raw)


def trainable_objective(model: Any, task: str | None, pos_weight: float | None, target: bool = False):
    """The checkpoint task's loss (`target`: the validation loss) as a FlatObjective over the trainable (adapted)
    parameters, with the model's output per row."""
    from molpeft_cli.influence.losses import task_objective
    from molpeft_cli.influence.objective import FlatObjective
    from molpeft_cli.influence.scope import select_parameters

    objective = task_objective(task or REGRESSION, pos_weight)
    names = [name for name, _ in select_parameters(model, "trainable")]
    loss = objective.target_loss if target else objective.loss
    return FlatObjective(model, loss, names, objective.output)


def per_row_gradients(objective: Any, batches: list[dict], of: str, rows: int = GRADIENT_ROWS):
    """Yield each batch's (rows, P) gradients (of the loss, or of the output) in row order, cut to `rows` rows at a
    time; the model in eval mode."""
    from molpeft_cli.influence.batches import batch_size, map_tensors
    from molpeft_cli.influence.objective import eval_mode
    from molpeft_cli.influence.per_sample import PerSampleGrads

    grads = PerSampleGrads(objective, of=of)
    with eval_mode(objective.model):
        for batch in batches:
            n = batch_size(batch)
            for start in range(0, n, rows):
                part = map_tensors(lambda t, s=start: t[s: s + rows] if t.dim() > 0 else t, batch)
                yield grads(part)
