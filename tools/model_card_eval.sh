#!/usr/bin/env bash
# The bundled model's evidence for its model card (successor of bench/pretraining_gain.sh, now removed): on the DeepChem
# scaffold split of all 4200 Lipophilicity molecules (3360/420/420, seed 0), full fine-tuning of each MODEL over SEEDS
# with the same recipe (the full method's defaults: AdamW lr 3e-4 with warmup and halving on plateau, batch 64; up to 20
# epochs, patience 3; fp32 unless BF16=1), next to random forests (Morgan counts; RDKit 2D descriptors + Morgan counts)
# and, when it is installed, chemprop v2's D-MPNN with its default settings (50 epochs; seed 0 only, CHEMPROP_SEEDS to
# change, CHEMPROP_SEEDS="" to skip), trained on the same split in the same run. Jobs run side by side with one thread
# each. Prints one table; writes OUT/card.md and
# OUT/card.parquet. FEATURES=rdkit2d (or morgan-count, or both comma-separated) fine-tunes with `--features` instead,
# as runs named MODEL+FEATURES beside the plain ones (the forests and chemprop are reused when already in OUT).
# DEVICE=cuda fine-tunes on a GPU (molpeft --device). BASELINES=0 leaves the forests and chemprop out (on a GPU
# machine they would only compete with the fine-tunes for its CPUs). SPLIT=FILE starts OUT from that split table
# instead of building one (a GPU machine has no DeepChem). MAX_EPOCHS (default 20) is for rehearsals only.
#   tools/model_card_eval.sh [OUT_DIR] [SEEDS] [MODEL ...]     (models: bundled name or checkpoint directory)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-artifacts/model_card}"
SEEDS="${2:-0 1 2}"
shift 2 2>/dev/null || shift $#
MODELS=("${@:-molformer-mini}")
PY="${PYTHON:-.venv/bin/python}"
CHEMPROP_SEEDS="${CHEMPROP_SEEDS-0}"
M="$PY -m molpeft_cli ${DEVICE:+--device $DEVICE}"
BASELINES="${BASELINES:-1}"
PREC=$([ "${BF16:-0}" = 1 ] && echo --bf16 || echo --fp32)
FEATURES="${FEATURES:-}"
mkdir -p "$OUT"
[ -n "${SPLIT:-}" ] && [ ! -f "$OUT/split.parquet" ] && cp "$SPLIT" "$OUT/split.parquet"
[ -f "$OUT/split.parquet" ] || {
    $M -q data lipophilicity -o "$OUT/molecules.parquet"
    $M -q split "$OUT/molecules.parquet" --strategy scaffold --seed 0 -o "$OUT/split.parquet"
}
run() {  # $1 = name, $2 = model, $3 = seed
    local dir="$OUT/$1-s$3"
    [ -f "$dir.metrics.parquet" ] && return 0
    $M -q --threads 1 finetune "$OUT/split.parquet" --model "$2" --peft full --seed "$3" $PREC \
        --max-epochs "${MAX_EPOCHS:-20}" --patience 3 --truncate ${FEATURES:+--features "$FEATURES"} -o "$dir"
    $M -q --threads 1 eval "$dir" "$OUT/split.parquet" --split test --truncate \
        --run "$1-s$3" -o "$dir.predictions.parquet" --metrics "$dir.metrics.parquet" >/dev/null
}
for model in "${MODELS[@]}"; do
    name=$(basename "$model")${FEATURES:++${FEATURES//,/+}}
    for seed in $SEEDS; do run "$name" "$model" "$seed" & done
done
[ "$BASELINES" = 1 ] && $PY - "$OUT" <<'PY' &
import sys, time
from pathlib import Path
import numpy as np, polars as pl
from rdkit import Chem
from rdkit.Chem import Descriptors
from sklearn.ensemble import RandomForestRegressor
from molpeft_cli.report.baseline import morgan_count_matrix
out = Path(sys.argv[1])
if (out / "rf.parquet").exists():
    sys.exit(0)
split = pl.read_parquet(out / "split.parquet")
names = [n for n, _ in Descriptors.descList]
def rdkit2d(smiles):
    rows = [[f(Chem.MolFromSmiles(s)) for _, f in Descriptors.descList] for s in smiles]
    x = np.nan_to_num(np.asarray(rows, dtype=np.float64), posinf=0.0, neginf=0.0)
    return np.clip(x, -1e6, 1e6).astype(np.float32)
parts = {s: split.filter(pl.col("split") == s) for s in ("train", "test")}
feats = {"morgan-count": {s: morgan_count_matrix(t["smiles_canonical"].to_list()) for s, t in parts.items()}}
feats["rdkit2d+morgan-count"] = {s: np.hstack([rdkit2d(t["smiles_canonical"].to_list()), feats["morgan-count"][s]])
                                 for s, t in parts.items()}
rows = []
for feat, x in feats.items():
    for seed in (0, 1, 2):
        t0 = time.time()
        rf = RandomForestRegressor(n_estimators=500, max_features=1 / 3, n_jobs=1, random_state=seed)
        rf.fit(x["train"], parts["train"]["label"].to_numpy())
        pred = rf.predict(x["test"])
        mse = float(np.mean((pred - parts["test"]["label"].to_numpy()) ** 2))
        rows.append({"run": f"rf-{feat}-s{seed}", "model_init": f"random forest, {feat}", "seed": seed, "mse": mse,
                     "train_seconds": time.time() - t0})
pl.DataFrame(rows).write_parquet(out / "rf.parquet")
PY
[ "$BASELINES" = 1 ] && $PY - "$OUT" "$CHEMPROP_SEEDS" <<'PY' &
import sys, time
from pathlib import Path
import polars as pl, torch
from molpeft_cli.report.chemprop_baseline import ChempropConfig, chemprop_available, fit_chemprop
out, seeds = Path(sys.argv[1]), [int(s) for s in sys.argv[2].split()]
if not seeds or (out / "chemprop.parquet").exists():
    sys.exit(0)
if not chemprop_available():
    print("chemprop is not installed (pip install 'molpeft[chemprop]'): its row is left out", file=sys.stderr)
    sys.exit(0)
torch.set_num_threads(1)
split = pl.read_parquet(out / "split.parquet")
rows = []
for seed in seeds:
    t0 = time.time()
    metrics, _ = fit_chemprop(split, seed, ChempropConfig())
    rows.append({"run": f"chemprop-s{seed}", "model_init": "chemprop v2 D-MPNN, defaults (50 epochs)", "seed": seed,
                 "mse": float(metrics["mse"]), "train_seconds": time.time() - t0})
pl.DataFrame(rows).write_parquet(out / "chemprop.parquet")
PY
wait
$PY - "$OUT" <<'PY'
import glob, sys
from pathlib import Path
import polars as pl
out = Path(sys.argv[1])
ft = pl.concat([pl.read_parquet(p) for p in sorted(glob.glob(f"{out}/*.metrics.parquet"))])
ft = ft.filter(pl.col("split") == "test").select(
    "run", pl.col("run").str.replace(r"-s\d+$", "").alias("model_init"), "seed", "mse", "train_seconds")
ft = ft.with_columns(pl.concat_str([pl.lit("full fine-tuning, "), pl.col("model_init")]).alias("model_init")
                    .str.replace(r"\+(.+)$", " + features ${1}"))
others = [pl.read_parquet(out / f"{name}.parquet").select(ft.columns) for name in ("rf", "chemprop")
          if (out / f"{name}.parquet").exists()]
rows = pl.concat([t.with_columns(pl.col("seed").cast(pl.Int64)) for t in (ft, *others)])
rows.write_parquet(out / "card.parquet")
lines = ["| model | test MSE per seed | mean +- sd | n |", "|---|---|---|---|"]
summary = []
for (name,), group in rows.sort("seed").group_by("model_init", maintain_order=True):
    values = group["mse"].to_list()
    summary.append((sum(values) / len(values), name, values, group["mse"].std()))
for mean, name, values, sd in sorted(summary):
    per_seed = " / ".join(f"{v:.3f}" for v in values)
    spread = f"{mean:.3f} +- {sd:.3f}" if sd is not None else f"{mean:.3f} (one seed)"
    lines.append(f"| {name} | {per_seed} | {spread} | {len(values)} |")
(out / "card.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
