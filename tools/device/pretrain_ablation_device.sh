#!/usr/bin/env bash
# Issue 13's "plain MLM vs MLM + descriptors" ablation on a GPU lease, in one call: two continued-pretraining runs
# from the stage-1 (MOSES-only) weights on the bundle's corpus with the bundle's recipe (batch 512, lr 5e-4, warmup
# + cosine, bf16), identical but for the descriptor weight (0 and 0.5), run side by side on the one GPU. Each
# exports its final float16 weights, packed as OUT/<variant>.tar.gz (one file each: the lease returns few files).
#   here:  python tools/build_pretraining_corpus.py artifacts/corpus/built --exclude ../shared/data/external_task2.csv
#   there: tools/device/pretrain_ablation_device.sh with carry [artifacts/corpus/built, artifacts/ablation/moses-only]
#   here:  tar xzf OUT/plain.tar.gz -C artifacts/pretrain-ablation (and descriptors.tar.gz), then
#          tools/model_card_eval.sh artifacts/card "0 1 2" artifacts/pretrain-ablation/plain-export/final (and the
#          other) and `python tools/card_compare.py artifacts/card ...` for the table.
# STEPS (default 1226, a third of the bundle's run: both variants fit one call), CORPUS, INIT, DEVICE and PY
# override the defaults (the CPU rehearsal uses a small corpus and a few steps).
set -uo pipefail
OUT="${OUT:?set OUT to the folder that comes back}"
CORPUS="${CORPUS:-artifacts/corpus/built}"
INIT="${INIT:-artifacts/ablation/moses-only}"
STEPS="${STEPS:-1226}"
DEVICE="${DEVICE:-cuda}"
PY="${PY:-python3}"
WORK="${WORK:-artifacts/pretrain-ablation}"
EXTRA=(${EXTRA:-})
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$WORK" "$OUT"
for variant in plain:0 descriptors:0.5; do
    name="${variant%%:*}"
    weight="${variant##*:}"
    "$PY" tools/pretrain_gpu.py "$CORPUS" "$WORK/$name" --minutes "${MINUTES:-3.5}" --max-steps "$STEPS" \
        --batch-size "${BATCH:-512}" --lr 5e-4 --descriptor-weight "$weight" --init "$INIT" \
        --export "$WORK/$name-export" --device "$DEVICE" "${EXTRA[@]}" > "$OUT/$name.log" 2>&1 &
done
wait
for name in plain descriptors; do
    if [ -f "$WORK/$name-export/final/model.safetensors" ]; then
        tar czf "$OUT/$name.tar.gz" -C "$WORK" "$name-export/final" "$name-export/summary.json"
    else
        echo "$name: no final weights (see $name.log)" >&2
    fi
    tail -3 "$OUT/$name.log"
done
ls -la "$OUT"
