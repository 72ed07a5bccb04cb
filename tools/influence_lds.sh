#!/usr/bin/env bash
# The retraining check of influence on the bundled model (issue 12): LoRA fine-tuned molformer-mini on the
# Lipophilicity scaffold split, a 300-molecule pool carved out of it first, scores for head / last-1 / all
# adapted parameters with the available solvers, then `molpeft influence-check` (M subsets, one retraining each).
# Every step runs with one thread; CPU seconds (user+sys) and wall seconds of each step go to OUT/timings.tsv.
#   tools/influence_lds.sh [OUT_DIR] [SUBSETS] [FRACTION] [EPOCHS] [JOBS]
# JOBS (default 1) single-thread processes run side by side: the scores at once, then the retrainings
# (`influence-check --jobs`); the CPU seconds are the same, the results do not depend on it.
# Reuses OUT/lora-ck (and the tables) when they exist, so the fine-tuning can be made once.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-artifacts/influence_lds}"
SUBSETS="${2:-10}"
FRACTION="${3:-0.5}"
EPOCHS="${4:-1}"
JOBS="${5:-1}"
PY="${PYTHON:-.venv/bin/python}"
M="$PY -m molpeft_cli --threads 1 -q"
mkdir -p "$OUT"
TIMES="$OUT/timings.tsv"
[ -f "$TIMES" ] || printf 'step\tcpu_s\twall_s\n' > "$TIMES"
timed() {  # timed NAME CMD...: run, append CPU and wall seconds
  local name="$1"; shift
  local t="$OUT/.time-${name// /_}"
  /usr/bin/time -f "%U %S %e" -o "$t" "$@"
  awk -v n="$name" '{printf "%s\t%.1f\t%.1f\n", n, $1 + $2, $3}' "$t" >> "$TIMES"
}
[ -f "$OUT/split.parquet" ] || {
  $M data lipophilicity -o "$OUT/molecules.parquet"
  $M carve "$OUT/molecules.parquet" -o "$OUT/rest.parquet" --pool "$OUT/pool.parquet" -n 300 --seed 0
  $M split "$OUT/rest.parquet" --strategy scaffold --seed 0 -o "$OUT/split.parquet"
}
[ -d "$OUT/lora-ck" ] || timed finetune $M finetune "$OUT/split.parquet" --peft lora --lr 5e-4 --max-epochs 8 \
  --patience 2 -o "$OUT/lora-ck"
score() {  # score NAME FLAGS...
  local name="$1"; shift
  [ -f "$OUT/scores-$name.parquet" ] || timed "influence $name" $M influence "$OUT/lora-ck" \
    --train "$OUT/split.parquet" --pool "$OUT/pool.parquet" -o "$OUT/scores-$name.parquet" "$@"
}
settings=(
  "head-lissa --params head"                              # the default solver (LiSSA to --tol)
  "head-exact --params head --solver exact"               # the reference (auto damping from the exact spectrum)
  "head-projected --params head --solver projected"
  "last1-projected --params last-1 --solver projected"
  "all-projected --params trainable --solver projected"   # every adapted (LoRA) parameter + the head
)
running=0
for setting in "${settings[@]}"; do
  # shellcheck disable=SC2086
  score $setting &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
timed "influence-check M=$SUBSETS f=$FRACTION e=$EPOCHS" $M influence-check "$OUT/lora-ck" \
  --train "$OUT/split.parquet" --pool "$OUT/pool.parquet" \
  --scores "$OUT/scores-head-lissa.parquet" --scores "$OUT/scores-head-exact.parquet" \
  --scores "$OUT/scores-head-projected.parquet" --scores "$OUT/scores-last1-projected.parquet" \
  --scores "$OUT/scores-all-projected.parquet" \
  --subsets "$SUBSETS" --fraction "$FRACTION" --epochs "$EPOCHS" --jobs "$JOBS" --retraining "$OUT/retraining.json" \
  -o "$OUT/influence-check.parquet"
"$PY" - "$OUT" <<'PY'
import sys
import polars as pl
from scipy.stats import spearmanr
out = sys.argv[1]
check = pl.read_parquet(f"{out}/influence-check.parquet")
with pl.Config(tbl_rows=20, tbl_width_chars=160, float_precision=3):
    print(check.select("scope", "solver", "n_params", "damping", "converged", "lds", "ci_low", "ci_high",
                       "subsets", "fraction", "epochs"))
    print(pl.read_csv(f"{out}/timings.tsv", separator="\t"))
a = pl.read_parquet(f"{out}/scores-head-lissa.parquet")["score"]
b = pl.read_parquet(f"{out}/scores-head-exact.parquet")["score"]
print(f"head: default (lissa) vs exact Spearman {spearmanr(a, b)[0]:.3f}")
PY
