#!/usr/bin/env bash
# The published study's model steps on a GPU lease (one 10-minute call; the machine has PyTorch, transformers and
# most of the scientific stack, but no polars, RDKit or DeepChem and no network). Prepare here, then run there:
#   here:  the data steps of `molpeft run --profile full -o artifacts/full --dry-run` (data, carve, split, split
#          --compare, audit), and .gpu/site.tar.xz = polars, rdkit, peft and platformdirs wheels unpacked and
#          packed with `tar -C site -cf - . | xz -9e` (wheels are zip-compressed; xz makes them fit the 64 MiB
#          transfer);
#   there: tools/device/study_device.sh with carry [artifacts/full, .gpu] and OUT set; it writes OUT/study.tar.gz (the run
#          without weights), OUT/study.log and the stage-1 model's weights in 10 MB parts (OUT/mlm.part-*).
#   here:  tar xzf study.tar.gz; cat mlm.part-* > artifacts/full/models/mlm/model.safetensors;
#          molpeft report artifacts/full -o artifacts/full/report; tools/publish_study.sh artifacts/full DEST
# RUN, PROFILE, JOBS, MINUTES, DEVICE override the defaults below (the CPU rehearsal uses the tiny profile).
set -uo pipefail
RUN="${RUN:-artifacts/full}"
PROFILE="${PROFILE:-full}"
OUT="${OUT:?set OUT to the folder that comes back}"
SITE="${SITE:-/tmp/site}"
if [ -f .gpu/site.tar.xz ] && [ ! -d "$SITE/rdkit" ]; then
    mkdir -p "$SITE" && tar -C "$SITE" -xJf .gpu/site.tar.xz || { echo "error: cannot unpack .gpu/site.tar.xz" >&2; exit 1; }
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PY:-python3}"
# peft is carried to match the tested version; if it does not import there, the machine's own is used
"$PY" -c "import peft" 2>/dev/null || rm -rf "$SITE/peft" "$SITE"/peft-*.dist-info
"$PY" - <<'EOF' 2>&1 | tee "$OUT/environment.txt"
import platform, torch, transformers, peft, polars, rdkit
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, gpu {gpu}, transformers "
      f"{transformers.__version__}, peft {peft.__version__}, polars {polars.__version__}, rdkit {rdkit.__version__}, "
      f"cpus {len(__import__('os').sched_getaffinity(0))}")
EOF
# a hard stop inside the call's limit; the script packs what finished either way
timeout -s INT $(( ${LIMIT_S:-560} )) "$PY" tools/device/study_device.py "$RUN" --profile "$PROFILE" --jobs "${JOBS:-14}" \
    --device "${DEVICE:-cuda}" --minutes "${MINUTES:-7}" --pack "$OUT/study.tar.gz" 2>&1 | tee "$OUT/study.log"
if [ ! -f "$OUT/study.tar.gz" ]; then
    tar czf "$OUT/study.tar.gz" --exclude='*.safetensors' --exclude=trainer_state "$RUN"
fi
if [ -f "$RUN/models/mlm/model.safetensors" ]; then
    split -b 10M "$RUN/models/mlm/model.safetensors" "$OUT/mlm.part-"
fi
ls -la "$OUT"
