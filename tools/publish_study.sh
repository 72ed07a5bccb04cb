#!/usr/bin/env bash
# Copy a finished study's publishable outputs (no checkpoints) into the repository, e.g. results/lipophilicity-full/:
# the report (report.md, headline.md, report.html, figures/), its tables (cells.parquet: one row per adapter x
# selection x seed with `converged`; differences.parquet; ratios.parquet; summary.parquet) and the run's plan and
# history (run.json, run_history.jsonl), plus the report step's manifest, which hashes every input it read.
#   tools/publish_study.sh RUN_DIR DEST_DIR
# Refuses a run whose report is missing or older than one of its cells' metrics (an unfinished or resumed-but-not-
# reported run). A README.md already in DEST_DIR (notes on how the run was made) is kept.
set -euo pipefail
RUN="${1:?usage: tools/publish_study.sh RUN_DIR DEST_DIR}"
DEST="${2:?usage: tools/publish_study.sh RUN_DIR DEST_DIR}"
REPORT="$RUN/report"
for f in report.md cells.parquet differences.parquet manifest.json; do
    [ -f "$REPORT/$f" ] || { echo "error: $REPORT/$f is missing: run the study to its report step first" >&2; exit 1; }
done
newer=$(find "$RUN/eval" -name '*.metrics.parquet' -newer "$REPORT/manifest.json" 2>/dev/null | head -1)
[ -z "$newer" ] || { echo "error: $newer is newer than the report: rerun the study to refresh it" >&2; exit 1; }
tmp="$DEST.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$REPORT"/report.md "$REPORT"/cells.parquet "$REPORT"/differences.parquet "$tmp/"
cp "$REPORT/manifest.json" "$tmp/report.manifest.json"
for f in headline.md report.html summary.parquet ratios.parquet; do [ -f "$REPORT/$f" ] && cp "$REPORT/$f" "$tmp/"; done
[ -d "$REPORT/figures" ] && cp -r "$REPORT/figures" "$tmp/"
cp "$RUN/run.json" "$tmp/"
[ -f "$RUN/run_history.jsonl" ] && cp "$RUN/run_history.jsonl" "$tmp/"
# a README.md written by hand in DEST (how and where the run was made) is kept
[ -f "$DEST/README.md" ] && cp "$DEST/README.md" "$tmp/"
rm -rf "$DEST.old.$$"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old.$$"
mkdir -p "$(dirname "$DEST")"
mv "$tmp" "$DEST"
rm -rf "$DEST.old.$$"
echo "published $RUN -> $DEST ($(ls "$DEST" | wc -l) entries)" >&2
