#!/usr/bin/env bash
# Pretrain the bundled `molformer-mini` from scratch with `molpeft mlm` on the MOSES training SMILES (1,584,663; MIT,
# from the PyPI wheel molsets==0.3.1), MLM + the RDKit-descriptor objective, on CPU (bf16 autocast).
# One thread: on this shared 2-core machine two OpenMP threads crawl whenever another process holds a core
# (measured 6 mol/s with 2 threads against 94 mol/s with 1 thread while another job ran; 137 mol/s with 2 threads
# on an idle machine), and one thread leaves a core to everyone else. In the real run one thread gave 167-180 mol/s
# (short MOSES molecules, bf16, LM head on masked positions only), so 12000 steps of 64 fit about 75-90 minutes.
# The vocabulary is built from MOSES plus Lipophilicity's SMILES strings (tokens only, labels unused), so the target
# dataset tokenises without <unk>.
#
# Usage: tools/pretrain_mini.sh [MAX_MINUTES]   (from the repository root; default 91)
# Re-running it continues the saved run in artifacts/pretrain/mini (--resume; starts afresh when there is none):
# the result equals that of an uninterrupted run with the same settings; only the time budget may change.
# Launched 2026-11-25 (see the report) as:
#   nohup tools/pretrain_mini.sh 91 > artifacts/pretrain/log.txt 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_MINUTES="${1:-91}"
CORPUS=artifacts/corpus/moses_train.csv.gz
if [ ! -f "$CORPUS" ]; then
    mkdir -p artifacts/corpus
    .venv/bin/pip download --no-deps molsets==0.3.1 -d artifacts/corpus
    .venv/bin/python -c "import zipfile; z = zipfile.ZipFile('artifacts/corpus/molsets-0.3.1-py3-none-any.whl'); \
open('$CORPUS', 'wb').write(z.read('moses/dataset/data/train.csv.gz'))"
fi
# sha256 786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c
mkdir -p artifacts/pretrain
exec .venv/bin/molpeft --threads 1 --seed 0 mlm "$CORPUS" -o artifacts/pretrain/mini \
    --from-scratch --size mini --vocab-extra molpeft_cli/assets/lipophilicity.csv \
    --descriptor-weight 0.5 --descriptor-cache artifacts/corpus/moses_descriptors.parquet \
    --bf16 --batch-size 64 --lr 3e-4 --warmup 0.05 --schedule cosine --max-steps 12000 \
    --holdout 1000 --eval-every 500 --patience 3 --save-every 500 \
    --max-minutes "$MAX_MINUTES" --resume
