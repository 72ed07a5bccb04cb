"""The reference every fine-tuned cell should beat: a random forest on Morgan count fingerprints.

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
from molpeft_cli.training.metrics import regression_metrics

BASELINE_NAME = "rf"


@dataclass(frozen=True)
class ForestConfig:
    n_trees: int = 500
    # a third of the features per split: Breiman's regression default, and ~3x faster than all 2048
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


def fit_forest(split: pl.DataFrame, seed: int, config: ForestConfig) -> tuple[dict, pl.DataFrame]:
    """Train on the labelled train rows, predict the test rows; the metrics row and the predictions table."""
    from sklearn.ensemble import RandomForestRegressor

    labelled = split.filter(pl.col("label").is_not_null())
    train, test = (labelled.filter(pl.col("split") == name) for name in ("train", "test"))
    if train.height < 2 or test.height == 0:
        raise MolpeftError(f"baseline: the split table has {train.height} labelled train and {test.height} test rows")
    started = time.perf_counter()
    forest = RandomForestRegressor(n_estimators=config.n_trees, max_features=config.max_features,
                                   random_state=seed, n_jobs=-1)
    forest.fit(morgan_count_matrix(train["smiles_canonical"].to_list(), config.radius, config.n_bits),
               train["label"].to_numpy())
    seconds = time.perf_counter() - started
    # trees are grown in parallel (each from its own seed: the same forest whatever the thread count), but a parallel
    # predict adds the trees' outputs in the order the threads finish, which changes the last bits between runs
    forest.set_params(n_jobs=1)
    prediction = forest.predict(morgan_count_matrix(test["smiles_canonical"].to_list(), config.radius, config.n_bits))
    predictions = test.select("mol_id", "split", "label").with_columns(pl.Series("prediction", prediction))
    row = {"run": f"{BASELINE_NAME}-s{seed}", "split": "test",
           **regression_metrics(test["label"].to_numpy(), prediction),
           "trainable_params": None, "total_params": None, "train_seconds": seconds, "seed": seed,
           "peft": BASELINE_NAME, "selection": "none", "model": "random-forest", "variant": "baseline"}
    return row, predictions


def forest_baselines(run_dir: Path, split_path: Path, seeds: Sequence[int], config: ForestConfig
                     ) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
    """Metrics (one row per seed) and test predictions per seed, from the cache where it is still valid."""
    return cached_baselines(run_dir, split_path, seeds, BASELINE_NAME, config, fit_forest)


def cached_baselines(run_dir: Path, split_path: Path, seeds: Sequence[int], name: str, config,
                     fit: Callable) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
    """One baseline model (`fit(split, seed, config)`) per seed, cached in RUN_DIR/baseline/NAME-s<seed>.*"""
    split = None
    rows, predictions = [], {}
    split_sha = describe_inputs({"split": split_path})["split"]["sha256"]
    for seed in seeds:
        metrics_path = run_dir / "baseline" / f"{name}-s{seed}.metrics.parquet"
        predictions_path = metrics_path.with_name(f"{name}-s{seed}.predictions.parquet")
        if _cache_valid(metrics_path, predictions_path, split_sha, config):
            rows.append(read_table(metrics_path).row(0, named=True))
            predictions[seed] = read_table(predictions_path)
            continue
        split = read_table(split_path) if split is None else split
        started = now()
        row, predicted = fit(split, seed, config)
        write_table(predicted, predictions_path)
        write_table(pl.DataFrame([row]), metrics_path)
        manifest = build_manifest("report baseline", asdict(config), seed, {"split": split_path}, started,
                                  {"metrics": row})
        write_manifest(metrics_path, manifest)  # written last: its presence marks a complete cache entry
        rows.append(row)
        predictions[seed] = predicted
    return pl.DataFrame(rows), predictions


def _cache_valid(metrics_path: Path, predictions_path: Path, split_sha: str, config) -> bool:
    if not (metrics_path.exists() and predictions_path.exists()):
        return False
    try:
        manifest = read_manifest(metrics_path)
    except ValueError:
        return False
    return bool(manifest) and manifest.get("params") == asdict(config) and \
        manifest.get("inputs", {}).get("split", {}).get("sha256") == split_sha
