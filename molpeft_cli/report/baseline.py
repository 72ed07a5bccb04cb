"""The reference every fine-tuned cell should beat: a random forest on Morgan count fingerprints (a regressor, or
for classification a classifier whose predicted probability of the positive class is scored).

Trained on the run's train split and evaluated on its test split, once per seed (the forest's seed). Results are
cached in RUN_DIR/baseline/ with a manifest; a rerun reuses them when the split table and settings are unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from molpeft_cli.chem.fingerprints import MORGAN_BITS, MORGAN_RADIUS
from molpeft_cli.data.manifest import build_manifest, describe_inputs, now, read_manifest, write_manifest
from molpeft_cli.data.tables import read_table, write_table
from molpeft_cli.errors import MolpeftError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, is_binary
from molpeft_cli.training.metrics import regression_metrics

BASELINE_NAME = "rf"


@dataclass(frozen=True)
class ForestConfig:
    n_trees: int = 500
    # a third of the features per split: Breiman's regression default, and ~3x faster than all 2048 (a classifier
    # takes Breiman's classification default instead, the square root of the number of features)
    max_features: float = 1 / 3
    radius: int = MORGAN_RADIUS
    n_bits: int = MORGAN_BITS
    fingerprint: str = "morgan-count"

    def __post_init__(self) -> None:
        if self.n_trees < 1:
            raise MolpeftError(f"the random forest needs at least one tree, got {self.n_trees}")


def morgan_count_matrix(smiles: Sequence[str], radius: int = MORGAN_RADIUS, n_bits: int = MORGAN_BITS) -> np.ndarray:
    """Folded Morgan count fingerprints, one row per molecule (float32 for scikit-learn); the same counts as
    `finetune --features morgan-count` (`chem.features.morgan_counts`)."""
    from molpeft_cli.chem.features import morgan_counts

    try:
        return morgan_counts(smiles, radius, n_bits).astype(np.float32)
    except MolpeftError as exc:
        raise MolpeftError(f"baseline: {exc} from the split table") from None


CLASSIFIER_MAX_FEATURES = "sqrt"


def baseline_params(config, task: str = REGRESSION) -> dict:
    """What a cached baseline was made with: its settings, and the task for classification (regression's record is
    the settings alone, as before classification existed)."""
    params = asdict(config)
    return params if task == REGRESSION else {**params, "task": task}


def fit_forest(split: pl.DataFrame, seed: int, config: ForestConfig, task: str = REGRESSION
               ) -> tuple[dict, pl.DataFrame]:
    """Train on the labelled train rows, predict the test rows; the metrics row and the predictions table. For
    classification a `RandomForestClassifier` on the 0/1 labels, its predicted probability of class 1 scored."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    labelled = split.filter(pl.col("label").is_not_null())
    train, test = (labelled.filter(pl.col("split") == name) for name in ("train", "test"))
    if train.height < 2 or test.height == 0:
        raise MolpeftError(f"baseline: the split table has {train.height} labelled train and {test.height} test rows")
    classify = task == CLASSIFICATION
    if classify and not (is_binary(train["label"]) and is_binary(test["label"])):
        raise MolpeftError("baseline: the split table's train and test labels are not both of the classes 0 and 1, "
                           "so no random-forest classifier")
    started = time.perf_counter()
    if classify:
        forest = RandomForestClassifier(n_estimators=config.n_trees, max_features=CLASSIFIER_MAX_FEATURES,
                                        random_state=seed, n_jobs=-1)
    else:
        forest = RandomForestRegressor(n_estimators=config.n_trees, max_features=config.max_features,
                                       random_state=seed, n_jobs=-1)
    labels = train["label"].to_numpy()
    forest.fit(morgan_count_matrix(train["smiles_canonical"].to_list(), config.radius, config.n_bits),
               labels.astype(np.int64) if classify else labels)
    seconds = time.perf_counter() - started
    # trees are grown in parallel (each from its own seed: the same forest whatever the thread count), but a parallel
    # predict adds the trees' outputs in the order the threads finish, which changes the last bits between runs
    forest.set_params(n_jobs=1)
    features = morgan_count_matrix(test["smiles_canonical"].to_list(), config.radius, config.n_bits)
    if classify:
        prediction = forest.predict_proba(features)[:, list(forest.classes_).index(1)]
    else:
        prediction = forest.predict(features)
    predictions = test.select("mol_id", "split", "label").with_columns(pl.Series("prediction", prediction))
    if classify:
        predictions = predictions.with_columns(pl.col("prediction").alias("probability"))
    row = {"run": f"{BASELINE_NAME}-s{seed}", "split": "test",
           **baseline_metrics(task, test["label"].to_numpy(), prediction),
           "trainable_params": None, "total_params": None, "train_seconds": seconds, "seed": seed,
           "peft": BASELINE_NAME, "selection": "none", "model": "random-forest", "variant": "baseline"}
    if classify:
        row["task"] = task
    return row, predictions


def baseline_metrics(task: str, labels: np.ndarray, predictions: np.ndarray) -> dict:
    """The task's metrics of a baseline's test predictions (probabilities for classification)."""
    if task == REGRESSION:
        return regression_metrics(labels, predictions)
    from molpeft_cli.training.metrics import task_metrics

    return task_metrics(task, labels, predictions)


def forest_baselines(run_dir: Path, split_path: Path, seeds: Sequence[int], config: ForestConfig,
                     task: str = REGRESSION) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
    """Metrics (one row per seed) and test predictions per seed, from the cache where it is still valid."""
    return cached_baselines(run_dir, split_path, seeds, BASELINE_NAME, baseline_params(config, task),
                            lambda split, seed: fit_forest(split, seed, config, task))


def cached_baselines(run_dir: Path, split_path: Path, seeds: Sequence[int], name: str, params: dict,
                     fit: Callable[[pl.DataFrame, int], tuple[dict, pl.DataFrame]]
                     ) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
    """One baseline model (`fit(split, seed)`, made with `params`) per seed, cached in
    RUN_DIR/baseline/NAME-s<seed>.*"""
    split = None
    rows, predictions = [], {}
    split_sha = describe_inputs({"split": split_path})["split"]["sha256"]
    for seed in seeds:
        metrics_path = run_dir / "baseline" / f"{name}-s{seed}.metrics.parquet"
        predictions_path = metrics_path.with_name(f"{name}-s{seed}.predictions.parquet")
        if _cache_valid(metrics_path, predictions_path, split_sha, params):
            rows.append(read_table(metrics_path).row(0, named=True))
            predictions[seed] = read_table(predictions_path)
            continue
        split = read_table(split_path) if split is None else split
        started = now()
        row, predicted = fit(split, seed)
        write_table(predicted, predictions_path)
        write_table(pl.DataFrame([row]), metrics_path)
        manifest = build_manifest("report baseline", params, seed, {"split": split_path}, started,
                                  {"metrics": row})
        write_manifest(metrics_path, manifest)  # written last: its presence marks a complete cache entry
        rows.append(row)
        predictions[seed] = predicted
    return pl.DataFrame(rows), predictions


def _cache_valid(metrics_path: Path, predictions_path: Path, split_sha: str, params: dict) -> bool:
    if not (metrics_path.exists() and predictions_path.exists()):
        return False
    try:
        manifest = read_manifest(metrics_path)
    except ValueError:
        return False
    return bool(manifest) and manifest.get("params") == params and \
        manifest.get("inputs", {}).get("split", {}).get("sha256") == split_sha
