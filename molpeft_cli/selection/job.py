"""One selection from files: the library call behind `molpeft select` (leakage guard, strategy, output)."""

from __future__ import annotations

import logging

import polars as pl

from molpeft_cli.errors import MolpeftError, SettingError

log = logging.getLogger(__name__)

DEFAULT_EXCLUDED_SPLITS = ("valid", "test")


def guard_pool(pool: pl.DataFrame, split: pl.DataFrame | None, splits: tuple[str, ...]) -> tuple[pl.DataFrame, dict]:
    """Drop pool molecules that are the same compound (InChIKey, or stereo-free skeleton) as a molecule in the
    excluded splits; report them. Returns the kept pool and a summary for the manifest."""
    from molpeft_cli.chem.audit import audit_pool

    if split is None:
        return pool, {"excluded": 0}
    if "split" not in split.columns:
        raise SettingError("exclude", "{setting} needs a split table (with a `split` column)")
    hits, summary = audit_pool(split.filter(pl.col("split").is_in(list(splits))), pool)
    leaking = sorted(set(hits["pool_mol_id"].to_list()))
    if leaking:
        log.warning(f"excluded {len(leaking)} pool molecules that are {'/'.join(splits)} compounds "
             f"({summary.same_inchikey} same InChIKey, {summary.same_skeleton - summary.same_inchikey} "
             f"same stereo-free skeleton): {', '.join(leaking[:5])}{' ...' if len(leaking) > 5 else ''}")
    return pool.filter(~pl.col("mol_id").is_in(leaking)), {
        "excluded": len(leaking), "excluded_ids": leaking, "splits": list(splits),
        "same_inchikey": summary.same_inchikey, "same_skeleton": summary.same_skeleton}


def mc_dropout_context(checkpoint: str, pool: pl.DataFrame, truncate: bool, batch_size: int = 64,
                       bf16: bool = False, device: str = "auto"):
    """Model, predict function and ordered pool batches for MC dropout, in original label units. The pool
    should be sorted by length (see `length_sorted`) so that batches in pool order carry little padding."""
    from molpeft_cli.selection.base import SelectionContext
    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.regression import encode

    ft = load_finetuned(checkpoint, device)
    enc = encode(ft.tokenizer, pool["smiles_canonical"].to_list(), truncate, ids=pool["mol_id"].to_list())
    batches = [batch.model_inputs() for batch in  # pool order, as select_mcdropout requires
               iter_batches(enc.input_ids, batch_size, ft.tokenizer.pad_token_id, shuffle=False, in_order=True,
                            features=ft.featurize(pool["smiles_canonical"].to_list()))]
    mean, std = ft.label_mean, ft.label_std

    device = next(ft.model.parameters()).device

    import torch

    def predict(model, batch):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
        return out.logits.squeeze(-1).float().cpu() * std + mean

    return SelectionContext(model=ft.model, predict=predict, batches=batches)


def length_sorted(pool: pl.DataFrame) -> pl.DataFrame:
    """Pool rows ordered by SMILES length (then mol_id): a deterministic order that batches with little padding."""
    return pool.with_columns(pl.col("smiles_canonical").str.len_chars().alias("_len")).sort(
        ["_len", "mol_id"]).drop("_len")


def run_selection(pool: pl.DataFrame, strategy: str, options: dict, split: pl.DataFrame | None,
                  excluded_splits: tuple[str, ...], train: pl.DataFrame | None, model: str | None,
                  scores: pl.DataFrame | None, truncate: bool, bf16: bool = False,
                  device: str = "auto") -> tuple[pl.DataFrame, dict]:
    """`split` is guarded against (its excluded splits); `train`'s train split steers maxmin away from it."""
    from dataclasses import fields

    from molpeft_cli.selection import REGISTRY, SelectionContext, select_pool

    if strategy not in REGISTRY:
        raise SettingError("strategy", f"unknown {{setting}} {strategy!r}; choose one of {', '.join(REGISTRY)}")
    kept, guard = guard_pool(pool, split, excluded_splits)
    if kept.height == 0:
        raise MolpeftError("no pool molecules left after the leakage guard")
    config_cls = REGISTRY[strategy].config_cls
    accepted = {f.name for f in fields(config_cls)}
    config = config_cls(**{k: v for k, v in options.items() if k in accepted and v is not None})
    context = SelectionContext()
    if strategy == "maxmin" and train is not None:
        if "split" not in train.columns:
            raise SettingError("train", "{setting} needs a split table (with a `split` column)")
        context = SelectionContext(train_smiles=train.filter(pl.col("split") == "train")["smiles_canonical"]
                                   .to_list())
    elif strategy == "mcdropout":
        if model is None:
            raise SettingError("model", "{strategy} mcdropout needs {setting} (a fine-tuned checkpoint)")
        kept = length_sorted(kept)
        context = mc_dropout_context(model, kept, truncate, bf16=bf16, device=device)
    elif strategy == "influence":
        if scores is None:
            raise SettingError("scores", "{strategy} influence needs {setting} (the table from the influence step)")
        context = SelectionContext(scores=scores)
    chosen = select_pool(kept, strategy, config, context)
    log.info(f"{strategy}: chose {chosen.height} of {kept.height} pool molecules"
         + (f" ({guard['excluded']} excluded as valid/test compounds)" if guard["excluded"] else ""))
    return chosen, {"guard": guard, "config": config.to_dict(), "chosen": chosen.height}
