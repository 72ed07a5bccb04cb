"""Folders of hand-chained evaluations, made by hand: eval outputs (metrics, predictions and their manifests) under
any names, the checkpoints they name (finetune.json, manifest.json) and the base models those name (a `molpeft
mlm` output, or the bundled pretrained model). Regression or binary classification (label = exp >= 2.5 on the
bundled Lipophilicity molecules).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from molpeft_cli.tasks import CLASSIFICATION, REGRESSION
from tests.report.run_factory import molecules

N_TRAIN, N_VALID, N_TEST = 60, 15, 40
THRESHOLD = 2.5


def split_table(task: str) -> pl.DataFrame:
    table = molecules(N_TRAIN + N_VALID + N_TEST, 0)
    if task == CLASSIFICATION:
        table = table.with_columns((pl.col("label") >= THRESHOLD).cast(pl.Float64).alias("label"))
    split = ["train"] * N_TRAIN + ["valid"] * N_VALID + ["test"] * N_TEST
    return table.with_columns(pl.Series("split", split), pl.Series("scaffold", [""] * table.height))


def _json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def mlm_model(folder: Path) -> Path:
    """A base model folder that `molpeft mlm` wrote (its manifest's command is mlm)."""
    _json(folder / "config.json", {"model_type": "molformer"})
    _json(folder / "manifest.json", {"command": "mlm", "params": {}})
    return folder


def bundled_base() -> dict:
    """finetune.json's base_model entry for the bundled pretrained model (no MLM stage)."""
    from molpeft_cli.model.hub import ASSETS_DIR, BUNDLED_MODELS

    name = "molformer-mini"
    return {"ref": name, "path": str(ASSETS_DIR / BUNDLED_MODELS[name]), "sha256": "0" * 64}


def probabilities(rng: np.random.Generator, labels: np.ndarray, strength: float) -> np.ndarray:
    """Probabilities that rank the positives above the negatives more often as `strength` grows."""
    logits = strength * (2 * labels - 1) + rng.normal(size=labels.size)
    return 1.0 / (1.0 + np.exp(-logits))


def write_cell(folder: Path, name: str, *, peft: str, selection: str, seed: int, base: dict, test: pl.DataFrame,
               prediction: np.ndarray, task: str, data: Path, variant: str = "", metrics: bool = True) -> Path:
    """One `finetune` checkpoint (folder/ckpt-NAME) and its `eval` outputs (folder/NAME.*); the metrics path."""
    from molpeft_cli.training.metrics import regression_metrics

    checkpoint = folder / f"ckpt-{name}"
    meta = {"peft": peft, "base_model": base, "label_scaling": {"mean": 0.0, "std": 1.0}, "options": {},
            "selection": selection, "seed": seed, "trainable_params": 1000, "total_params": 50_000,
            "train_seconds": 2.0, "converged": True}
    if task == CLASSIFICATION:
        meta["task"] = task
    _json(checkpoint / "finetune.json", meta)
    _json(checkpoint / "manifest.json", {"command": "finetune", "argv": ["molpeft", "finetune"],
                                         "versions": {"torch": "2.x"}, "inputs": {"model": {"path": base["path"]}}})
    labels = test["label"].to_numpy()
    predictions = test.select("mol_id", "split", "label").with_columns(pl.Series("prediction", prediction))
    if task == CLASSIFICATION:
        predictions = predictions.with_columns(pl.col("prediction").alias("probability"))
        scores = classification_scores(labels, prediction)
    else:
        scores = regression_metrics(labels, prediction)
    row = {"run": name, "split": "test", **scores, "trainable_params": 1000, "total_params": 50_000,
           "train_seconds": 2.0, "seed": seed, "peft": peft, "selection": selection, "model": base["ref"],
           "variant": variant, "converged": True, "best_epoch": 3}
    if task == CLASSIFICATION:
        row["task"] = task
    predictions_path, metrics_path = folder / f"{name}.predictions.parquet", folder / f"{name}.metrics.parquet"
    predictions.write_parquet(predictions_path)
    manifest = {"command": "eval", "config": {"checkpoint": str(checkpoint), "data": str(data),
                                              "output": str(predictions_path),
                                              "metrics": str(metrics_path) if metrics else None},
                "inputs": {"checkpoint": {"path": str(checkpoint)}, "data": {"path": str(data)}}, "metrics": row}
    _json(predictions_path.with_name(predictions_path.name + ".manifest.json"), manifest)
    if metrics:
        pl.DataFrame([row]).write_parquet(metrics_path)
        _json(metrics_path.with_name(metrics_path.name + ".manifest.json"), manifest)
    return metrics_path


def classification_scores(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """The classification metrics columns, computed with scikit-learn (the reference)."""
    from sklearn import metrics

    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    predicted = (probabilities >= 0.5).astype(int)
    return {"n": int(labels.size), "n_positive": int(labels.sum()),
            "roc_auc": float(metrics.roc_auc_score(labels, probabilities)),
            "pr_auc": float(metrics.average_precision_score(labels, probabilities)),
            "accuracy": float(metrics.accuracy_score(labels, predicted)),
            "balanced_accuracy": float(metrics.balanced_accuracy_score(labels, predicted)),
            "log_loss": float(metrics.log_loss(labels, clipped, labels=[0, 1])),
            "brier": float(metrics.brier_score_loss(labels, probabilities))}


@pytest.fixture
def task_metrics_available(monkeypatch):
    """`training.metrics.task_metrics` (issue 23's contract, from the fine-tuning side) for the baselines' rows;
    a scikit-learn stand-in where this branch does not have it yet."""
    from molpeft_cli.training import metrics

    if not hasattr(metrics, "task_metrics"):
        def task_metrics(task, labels, predictions):
            if task == REGRESSION:
                return metrics.regression_metrics(labels, predictions)
            return classification_scores(np.asarray(labels), np.asarray(predictions, dtype=float))

        monkeypatch.setattr(metrics, "task_metrics", task_metrics, raising=False)


# adapter, selection -> strength of the probabilities (AUC rises with it), per seed
CLASSIFICATION_CELLS = {("full", "none"): 1.0, ("full", "random"): 1.2, ("lora", "none"): 0.6,
                        ("lora", "random"): 2.5, ("bitfit", "none"): 0.3}


def classification_folder(folder: Path, seeds: tuple[int, ...] = (0, 1)) -> Path:
    """Two-stage classification cells (base model: an MLM output) with known orderings, split table beside."""
    data = folder / "data" / "labelled.parquet"
    data.parent.mkdir(parents=True, exist_ok=True)
    table = split_table(CLASSIFICATION)
    table.write_parquet(data)
    test = table.filter(pl.col("split") == "test")
    mlm = mlm_model(folder / "stage1")
    base = {"ref": str(mlm), "path": str(mlm), "sha256": "1" * 64}
    rng = np.random.default_rng(3)
    for seed in seeds:
        for (peft, selection), strength in CLASSIFICATION_CELLS.items():
            write_cell(folder / "evals", f"{peft}_{selection}_{seed}", peft=peft, selection=selection, seed=seed,
                       base=base, test=test, prediction=probabilities(rng, test["label"].to_numpy(), strength),
                       task=CLASSIFICATION, data=data)
    return folder
