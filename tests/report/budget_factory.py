"""A folder of hand-chained regression evaluations with selection cells at two budgets (5 and 10 molecules of a
20-molecule pool), `none` (0 added) and `all` (20 added), three seeds, two adapters: each cell's checkpoint records
n_extra in finetune.json and names its selection table, whose manifest records the k it asked for.

Test MSE per cell is exact (errors scaled as in run_factory). maxmin at k 10 is clearly better than random at k 10;
influence at k 5 adds only 4 molecules in seed 1 (it keeps positive scores only), so its seeds are grouped by the k
asked, not by the number added.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from tests.report.chained_factory import mlm_model, split_table, write_cell
from tests.report.run_factory import scaled_errors

POOL = 20
# (adapter, selection, budget) -> test MSE per seed 0, 1, 2
BUDGET_MSE = {
    ("full", "none", 0): (1.0, 1.1, 0.9),
    ("full", "all", POOL): (0.8, 0.9, 0.85),
    ("full", "random", 5): (1.0, 1.0, 1.0),
    ("full", "random", 10): (1.0, 1.05, 0.95),
    ("full", "maxmin", 5): (0.9, 1.0, 0.95),
    ("full", "maxmin", 10): (0.3, 0.35, 0.3),  # clearly better than random at k 10
    ("full", "influence", 5): (1.0, 1.1, 1.0),
    ("full", "influence", 10): (0.95, 1.0, 1.05),
    ("lora", "none", 0): (0.7, 0.8, 0.75),
    ("lora", "random", 5): (0.7, 0.75, 0.7),
    ("lora", "random", 10): (0.65, 0.7, 0.7),
    ("lora", "maxmin", 5): (0.7, 0.7, 0.75),
    ("lora", "maxmin", 10): (0.7, 0.65, 0.7),
}
SHORT = {("influence", 5, 1): 4}  # (selection, k, seed) -> molecules it actually added


def _json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def budget_folder(folder: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    data = folder / "data" / "labelled.parquet"
    data.parent.mkdir(parents=True, exist_ok=True)
    table = split_table("regression")
    table.write_parquet(data)
    test = table.filter(pl.col("split") == "test")
    labels = test["label"].to_numpy()
    mlm = mlm_model(folder / "stage1")
    base = {"ref": str(mlm), "path": str(mlm), "sha256": "1" * 64}
    rng = np.random.default_rng(11)
    for seed in seeds:
        for (adapter, selection, k), mses in BUDGET_MSE.items():
            name = f"{adapter}_{selection}_k{k}_{seed}"
            write_cell(folder / "evals", name, peft=adapter, selection=selection, seed=seed, base=base, test=test,
                       prediction=labels + scaled_errors(rng, labels.size, mses[seed]), task="regression", data=data)
            added = SHORT.get((selection, k, seed), k)
            checkpoint = folder / "evals" / f"ckpt-{name}"
            meta = json.loads((checkpoint / "finetune.json").read_text())
            _json(checkpoint / "finetune.json", {**meta, "n_extra": added})
            if selection == "none":
                continue
            chosen = folder / "selections" / f"{selection}-k{k}-s{seed}.parquet"
            chosen.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame({"mol_id": [f"p{i}" for i in range(added)], "rank": list(range(1, added + 1)),
                          "strategy": [selection] * added}).write_parquet(chosen)
            _json(chosen.with_name(chosen.name + ".manifest.json"),
                  {"command": "select", "params": {"strategy": selection, "k": 185 if selection == "all" else k,
                                                   "threshold": None}, "seed": seed})
            manifest = json.loads((checkpoint / "manifest.json").read_text())
            manifest["inputs"]["extra"] = {"path": str(chosen)}
            _json(checkpoint / "manifest.json", manifest)
    return folder
