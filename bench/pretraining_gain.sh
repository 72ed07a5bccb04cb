#!/usr/bin/env bash
# Does pretraining help? Full fine-tuning of the bundled molformer-mini vs the same architecture from random
# initialisation (same vocabulary, same recipe), on the Lipophilicity scaffold split, over 3 seeds. Two jobs run
# side by side with one thread each. Prints the test MSE table and the relative gain.
#   bench/pretraining_gain.sh [OUT_DIR] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-artifacts/pretraining_gain}"
SEEDS="${2:-0 1 2}"
M=".venv/bin/molpeft"
mkdir -p "$OUT"
$M -q data lipophilicity -o "$OUT/molecules.parquet"
$M -q split "$OUT/molecules.parquet" --strategy scaffold --seed 0 -o "$OUT/split.parquet"
.venv/bin/python - "$OUT/random-init" <<'PY'
import shutil, sys, torch
import molpeft_cli.model as M
from molpeft_cli.data.registry import assets_dir
from molpeft_cli.model.loading import load_tokenizer, read_config, save_checkpoint
bundled = assets_dir() / "molformer-mini"
torch.manual_seed(0)
model = M.MolformerForMaskedLM(read_config(bundled))  # same config and vocabulary, fresh weights
save_checkpoint(model, load_tokenizer(bundled), sys.argv[1])
PY
run() {  # $1 = name, $2 = model
    for seed in $SEEDS; do
        $M -q --threads 1 finetune "$OUT/split.parquet" --model "$2" --peft full --seed "$seed" --bf16 \
            --max-epochs 20 --patience 3 --truncate -o "$OUT/$1-s$seed"
        $M -q --threads 1 eval "$OUT/$1-s$seed" "$OUT/split.parquet" --split test --truncate \
            --run "$1-s$seed" -o "$OUT/$1-s$seed.predictions.parquet" --metrics "$OUT/$1-s$seed.metrics.parquet" >/dev/null
    done
}
run pretrained molformer-mini & run random-init "$OUT/random-init" & wait
.venv/bin/python - "$OUT" <<'PY'
import glob, sys
import polars as pl
rows = pl.concat([pl.read_parquet(p) for p in sorted(glob.glob(f"{sys.argv[1]}/*.metrics.parquet"))])
rows = rows.with_columns(pl.col("run").str.replace(r"-s\d+$", "").alias("model_init"))
print(rows.select("run", "mse", "rmse", "r2", "spearman", "train_seconds"))
summary = rows.group_by("model_init").agg(pl.col("mse").mean().alias("mse_mean"), pl.col("mse").std().alias("mse_sd"))
print(summary.sort("model_init"))
means = dict(summary.select("model_init", "mse_mean").iter_rows())
print(f"pretrained vs random init: test MSE {means['pretrained']:.4f} vs {means['random-init']:.4f} "
      f"({100 * (1 - means['pretrained'] / means['random-init']):.1f}% lower)")
PY
