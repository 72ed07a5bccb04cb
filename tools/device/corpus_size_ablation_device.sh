#!/usr/bin/env bash
# Issue 13's corpus-mix and model-size ablations on a GPU lease, in one call: four masked-LM + descriptor
# pretraining runs from scratch, side by side on the one GPU, with the bundle's recipe (batch 512, AdamW lr 5e-4,
# 4% warmup + cosine to 0, descriptor weight 0.5, bf16) and the bundle's vocabulary, identical but for one thing:
#   scratch-mini-mix      mini, the bundle's corpus (MOSES + MoleculeACE, 2.2% ChEMBL)    the reference of both
#   scratch-mini-moses    mini, MOSES alone                                                corpus mix
#   scratch-mini-chembl20 mini, all of MoleculeACE + a seeded MOSES sample (20% ChEMBL)    corpus mix
#   scratch-small-mix     small (16.9M parameters, 3.6x mini), the bundle's corpus        model size
# As each run ends, its final weights are fine-tuned with the model card's recipe and split over seeds 0, 1, 2 on
# the same GPU (tools/model_card_eval.sh with DEVICE=cuda, BASELINES=0).
#   here:  .gpu/corpus/ = corpus.smi.xz (`zcat artifacts/corpus/built/corpus.smi.gz | xz -9`), descriptors.npz and
#          corpus.json of the built corpus; .gpu/split.parquet = artifacts/card/split.parquet; .gpu/site.tar.xz =
#          polars + rdkit (see tools/device/study_device.sh; the fine-tunes validate SMILES with RDKit)
#   there: tools/device/corpus_size_ablation_device.sh with carry [.gpu] and OUT set. It writes OUT/results.tar.gz (the
#          card's fine-tunes without weights, pretraining logs and summaries, variant corpus.json files),
#          OUT/weights.part-* (the four pretrained models, float16; `cat` them into a .tar.gz) and OUT/run.log.
#   here:  tar xzf results.tar.gz; python tools/card_compare.py <card> scratch-mini-mix scratch-mini-moses
#          scratch-mini-chembl20 scratch-small-mix
# STEPS (1226), BATCH (512), DEVICE (cuda), MINUTES (cap on each run's pretraining, 5.5), THREADS (CPU threads of
# each pretraining run, 3), LIMIT_S (the whole job before packing, 530), HOLDOUT, MAX_EPOCHS, GPU_DIR and PY
# override the defaults. The CPU rehearsal uses a small corpus and split (a GPU_DIR made like .gpu) and a few steps:
#   STEPS=3 BATCH=8 DEVICE=cpu MAX_EPOCHS=1 HOLDOUT=50 GPU_DIR=/tmp/small PY=.venv/bin/python OUT=/tmp/o LIMIT_S=900
set -uo pipefail
OUT="${OUT:?set OUT to the folder that comes back}"
GPU_DIR="${GPU_DIR:-.gpu}"
WORK="${WORK:-artifacts/ablation2}"
SITE="${SITE:-/tmp/site}"
PY="${PY:-python3}"
export STEPS="${STEPS:-1226}" BATCH="${BATCH:-512}" DEVICE="${DEVICE:-cuda}" MINUTES="${MINUTES:-5.5}" \
    THREADS="${THREADS:-3}" HOLDOUT="${HOLDOUT:-5000}" MAX_EPOCHS="${MAX_EPOCHS:-20}" WORK GPU_DIR PY OUT
mkdir -p "$OUT" "$WORK/logs" "$WORK/models" "$WORK/corpus/mix"
if [ -f "$GPU_DIR/site.tar.xz" ] && [ ! -d "$SITE/rdkit" ]; then
    mkdir -p "$SITE" && tar -C "$SITE" -xJf "$GPU_DIR/site.tar.xz" || { echo "error: cannot unpack site" >&2; exit 1; }
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" -c "import peft" 2>/dev/null || rm -rf "$SITE/peft" "$SITE"/peft-*.dist-info
"$PY" - <<'EOF' 2>&1 | tee "$WORK/logs/environment.txt"
import os, platform, torch, polars, rdkit
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, gpu {gpu}, polars {polars.__version__}, "
      f"rdkit {rdkit.__version__}, cpus {len(os.sched_getaffinity(0))}")
EOF

job() {
    set -uo pipefail
    # the corpora: the bundle's (from the carried xz) and two mixes derived from it
    cp "$GPU_DIR/corpus/descriptors.npz" "$GPU_DIR/corpus/corpus.json" "$WORK/corpus/mix/"
    "$PY" -c "import gzip, lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, gzip.open(sys.argv[2], 'wb', compresslevel=1) as dst: shutil.copyfileobj(src, dst)" \
        "$GPU_DIR/corpus/corpus.smi.xz" "$WORK/corpus/mix/corpus.smi.gz" || return 1
    "$PY" tools/corpus_variant.py "$WORK/corpus/mix" "$WORK/corpus/moses" --only moses || return 1
    "$PY" tools/corpus_variant.py "$WORK/corpus/mix" "$WORK/corpus/chembl20" --chembl-fraction 0.2 --seed 0 || return 1
    variant() {  # name, init, corpus
        local name=$1 log="$WORK/logs/$1.log"
        "$PY" tools/pretrain_gpu.py "$WORK/corpus/$3" "$WORK/runs/$name" --minutes "$MINUTES" --max-steps "$STEPS" \
            --batch-size "$BATCH" --lr 5e-4 --descriptor-weight 0.5 --init "$2" --seed 0 --holdout "$HOLDOUT" \
            --export "$WORK/runs/$name-export" --device "$DEVICE" --threads "$THREADS" > "$log" 2>&1
        [ -f "$WORK/runs/$name-export/final/model.safetensors" ] || { echo "$name: no final weights" >> "$log"; return 1; }
        rm -rf "$WORK/models/$name" && cp -r "$WORK/runs/$name-export/final" "$WORK/models/$name"
        echo "$name: pretrained at $SECONDS s; fine-tuning" | tee -a "$log"
        DEVICE="$DEVICE" BASELINES=0 SPLIT="$GPU_DIR/split.parquet" PYTHON="$PY" \
            tools/model_card_eval.sh "$WORK/card" "0 1 2" "$WORK/models/$name" >> "$log" 2>&1
        echo "$name: fine-tuned at $SECONDS s" | tee -a "$log"
    }
    variant scratch-mini-mix scratch:mini mix &
    variant scratch-mini-moses scratch:mini moses &
    variant scratch-mini-chembl20 scratch:mini chembl20 &
    variant scratch-small-mix scratch:small mix &
    wait
}
export -f job
SECONDS=0
# the job in its own process group, stopped as a whole at the deadline so that packing starts in time
setsid bash -c job &
pid=$!
setsid bash -c "sleep ${LIMIT_S:-530}; kill -TERM -- -$pid" > /dev/null 2>&1 &
watchdog=$!
wait "$pid"
status=$?
kill -TERM -- -"$watchdog" 2>/dev/null
kill -TERM -- -"$pid" 2>/dev/null
echo "job ended (status $status) at $SECONDS s"
# pack what finished, results first (files back: at most 8, 16 MiB each)
for name in mix moses chembl20; do
    [ -f "$WORK/corpus/$name/corpus.json" ] && cp "$WORK/corpus/$name/corpus.json" "$WORK/logs/corpus-$name.json"
done
for summary in "$WORK"/runs/*-export/summary.json; do
    [ -f "$summary" ] && cp "$summary" "$WORK/logs/$(basename "$(dirname "$summary")")-summary.json"
done
tar czf "$OUT/results.tar.gz" --exclude='*.safetensors' --exclude=trainer_state -C "$WORK" card logs models
tar czf - -C "$WORK" models | split -b 15M - "$OUT/weights.part-"
tail -n 4 "$WORK"/logs/*.log
ls -la "$OUT"
