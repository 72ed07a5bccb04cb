"""A synthetic `molpeft run` directory: real molecules, predictions with known test MSE per cell and seed.

Errors are scaled so each cell's test MSE is exactly the number in CELL_MSE; `full/random` reuses `full/none`'s
errors in a shuffled molecule order (same MSE, paired difference 0 on average but not per molecule).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from rdkit import Chem

import molpeft_cli
from molpeft_cli.training.metrics import regression_metrics

ASSET = Path(molpeft_cli.__file__).parent / "assets" / "lipophilicity.csv"
N_TRAIN, N_VALID, N_TEST, N_POOL = 50, 10, 30, 20
TRAINABLE = {"full": 1_000_000, "bitfit": 12_000, "lora": 60_000}
# (variant, adapter, selection) -> test MSE per seed 0, 1, 2
CELL_MSE = {
    ("two-stage", "full", "none"): (1.0, 1.1, 0.9),
    ("two-stage", "full", "all"): (0.95, 1.05, 0.85),
    ("two-stage", "full", "random"): (1.0, 1.1, 0.9),  # same errors as none, shuffled
    ("two-stage", "full", "maxmin"): (1.2, 0.8, 1.0),
    ("two-stage", "full", "influence"): (0.25, 0.25, 0.25),  # clearly better than none
    ("two-stage", "bitfit", "none"): (0.8, 0.9, None),  # seed 2 missing
    ("two-stage", "lora", "none"): (0.5, 0.7, 0.9),  # mean 0.700, sd 0.200
    ("two-stage", "lora", "random"): (0.6, 0.6, 0.6),
    ("two-stage", "lora", "influence"): (0.45, 0.65, 0.85),
    ("direct", "full", "none"): (1.3, 1.4, 1.2),
}  # lora/maxmin and bitfit/all..influence are planned in run.json but missing
PLANNED_SELECTIONS = ["none", "all", "random", "maxmin", "influence"]
NOT_CONVERGED = {(("two-stage", "full", "maxmin"), 1)}  # (cell, seed) whose training stopped at --max-epochs


def molecules(n: int, offset: int) -> pl.DataFrame:
    raw = pl.read_csv(ASSET).slice(offset, n)
    mols = [Chem.MolFromSmiles(s) for s in raw["smiles"]]
    return pl.DataFrame({
        "mol_id": [f"m{offset + i}" for i in range(n)],
        "smiles": raw["smiles"],
        "smiles_canonical": [Chem.MolToSmiles(m) for m in mols],
        "inchikey": [Chem.MolToInchiKey(m) for m in mols],
        "label": raw["exp"].cast(pl.Float64),
        "source": ["lipophilicity"] * n,
    })


def scaled_errors(rng: np.random.Generator, n: int, mse: float) -> np.ndarray:
    z = rng.normal(size=n)
    return z * np.sqrt(mse / np.mean(z**2))


def write_cell(run_dir: Path, key: tuple[str, str, str], seed: int, test: pl.DataFrame, errors: np.ndarray) -> None:
    variant, adapter, selection = key
    stem = run_dir / "eval" / f"{variant}-{adapter}-{selection}-s{seed}"
    labels = test["label"].to_numpy()
    predictions = test.select("mol_id", "split", "label").with_columns(pl.Series("prediction", labels + errors))
    predictions.write_parquet(f"{stem}.predictions.parquet")
    row = {"run": stem.name, "split": "test", **regression_metrics(labels, labels + errors),
           "trainable_params": TRAINABLE[adapter], "total_params": 1_000_000,
           "train_seconds": 10.0 + TRAINABLE[adapter] / 20_000 + seed, "seed": seed, "peft": adapter,
           "selection": selection, "model": "molformer-mini", "variant": variant,
           "converged": (key, seed) not in NOT_CONVERGED}
    pl.DataFrame([row]).write_parquet(f"{stem}.metrics.parquet")


def make_run_dir(run_dir: Path, seeds: tuple[int, ...] = (0, 1, 2), test_target: bool = False) -> Path:
    for folder in ("data", "eval", "selections", "scores"):
        (run_dir / folder).mkdir(parents=True, exist_ok=True)
    table = molecules(N_TRAIN + N_VALID + N_TEST, 0)
    split = ["train"] * N_TRAIN + ["valid"] * N_VALID + ["test"] * N_TEST
    table = table.with_columns(pl.Series("split", split), pl.Series("scaffold", [""] * table.height))
    table.write_parquet(run_dir / "data" / "split.parquet")
    pool = molecules(N_POOL, 200)
    pool.write_parquet(run_dir / "data" / "pool.parquet")
    test = table.filter(pl.col("split") == "test")
    rng = np.random.default_rng(7)
    for seed in seeds:
        none_errors = scaled_errors(rng, N_TEST, CELL_MSE[("two-stage", "full", "none")][seed])
        for key, mses in CELL_MSE.items():
            if mses[seed] is None:
                continue
            errors = none_errors if key == ("two-stage", "full", "none") else scaled_errors(rng, N_TEST, mses[seed])
            if key[1:] == ("full", "random"):
                errors = rng.permutation(none_errors)
            write_cell(run_dir, key, seed, test, errors)
        scores = pool.select("mol_id").with_columns(pl.Series("score", rng.normal(size=N_POOL)),
                                                    pl.Series("grad_norm", rng.uniform(1, 2, size=N_POOL)))
        scores.write_parquet(run_dir / "scores" / f"influence-s{seed}.parquet")
        chosen = {"random": rng.permutation(N_POOL)[:10], "maxmin": np.arange(0, N_POOL, 2),
                  "influence": np.argsort(-scores["score"].to_numpy())[:8]}
        for strategy, rows in chosen.items():
            picked = pool[rows.tolist()].with_columns(pl.Series("score", np.linspace(1, 0, len(rows))),
                                                      pl.Series("rank", np.arange(1, len(rows) + 1)),
                                                      pl.lit(strategy).alias("strategy"))
            picked.write_parquet(run_dir / "selections" / f"{strategy}-s{seed}.parquet")
        if test_target:
            manifest = {"command": "influence", "params": {"target": "test", "depth": 200}, "seed": seed}
            (run_dir / "scores" / f"influence-s{seed}.parquet.manifest.json").write_text(json.dumps(manifest))
    run_info = {"profile": "tiny", "model": "molformer-mini", "adapters": list(TRAINABLE),
                "selections": PLANNED_SELECTIONS, "seeds": list(seeds), "pool": {"kind": "carved", "n": N_POOL},
                "started": "2025-01-01T00:00:00+00:00", "ended": "2025-01-01T01:00:00+00:00"}
    (run_dir / "run.json").write_text(json.dumps(run_info))
    (run_dir / "data" / "audit.json").write_text(json.dumps({
        "pool_size": N_POOL, "same_inchikey": 2, "same_skeleton": 3,
        "by_split": {"test": {"same_inchikey": 1, "same_skeleton": 1}, "train": {"same_inchikey": 1,
                                                                                 "same_skeleton": 2}},
        "label_conflicts": 1}))
    pl.DataFrame([
        {"strategy": "scaffold", "n_train": 50, "n_valid": 10, "n_test": 30, "frac_test": 0.333,
         "shared_scaffolds_total": 0, "test_max_tanimoto_mean": 0.41, "test_max_tanimoto_median": 0.40},
        {"strategy": "random", "n_train": 50, "n_valid": 10, "n_test": 30, "frac_test": 0.333,
         "shared_scaffolds_total": 7, "test_max_tanimoto_mean": 0.52, "test_max_tanimoto_median": 0.50},
    ]).write_parquet(run_dir / "data" / "split_compare.parquet")
    return run_dir
