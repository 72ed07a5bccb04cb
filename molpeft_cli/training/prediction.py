"""Predictions from a fine-tuned checkpoint: in original label units (the training scaling undone) for regression,
probabilities of the positive class for classification (`FinetunedModel.to_prediction`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from molpeft_cli.training.checkpoint import FinetunedModel
from molpeft_cli.training.regression import encode, predict_encoded

log = logging.getLogger(__name__)


def predict_molecules(ft: FinetunedModel, smiles: Sequence[str], ids: Sequence[str] | None = None,
                      truncate: bool = False, batch_size: int = 128) -> np.ndarray:
    """Predictions for canonical SMILES (all must parse); raises MolpeftError for over-long molecules."""
    encoded = encode(ft.tokenizer, list(smiles), truncate=truncate, ids=ids)
    if encoded.truncated:
        names = [ids[i] if ids is not None else f"#{i + 1}" for i in encoded.truncated]
        log.warning(f"{len(names)} molecules longer than the model's {encoded.max_length} positions were cut to "
                    f"fit: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}")
    z = predict_encoded(ft.model, encoded.input_ids, ft.tokenizer.pad_token_id, batch_size,
                        features=ft.featurize(smiles))
    return ft.to_prediction(z)


def predict_smiles_rows(ft: FinetunedModel, smiles: Sequence[str], truncate: bool = False) -> list[dict]:
    """One row per input SMILES: canonical form, prediction (for classification also `probability`, the same
    value), a per-row error instead of an exception, and whether the molecule was cut to the model's positions
    (`truncate`)."""
    from molpeft_cli.chem.standardize import parse_smiles

    classification = ft.task == "classification"
    rows = []
    for text in smiles:
        parsed = parse_smiles(text)
        rows.append({"smiles": text, "smiles_canonical": parsed.smiles_canonical, "prediction": None,
                     **({"probability": None} if classification else {}), "error": parsed.reason,
                     "truncated": False})
    ok = [r for r in rows if r["error"] is None]
    if not ok:
        return rows
    limit = int(ft.tokenizer.model_max_length)
    lengths = [len(ft.tokenizer.smiles_to_ids(r["smiles_canonical"])) + 2 for r in ok]
    fits = []
    for row, n in zip(ok, lengths, strict=True):
        if n > limit and not truncate:
            row["error"] = f"{n} tokens, longer than the model's {limit} positions (allow cutting with truncate)"
        else:
            row["truncated"] = n > limit  # predicted from its first positions only: flagged in the output
            fits.append(row)
    if fits:
        preds = predict_molecules(ft, [r["smiles_canonical"] for r in fits], truncate=truncate)
        for row, value in zip(fits, preds, strict=True):
            row["prediction"] = float(value)
            if classification:
                row["probability"] = float(value)
    return rows
