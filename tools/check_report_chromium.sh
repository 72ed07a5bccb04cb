#!/usr/bin/env bash
# Render REPORT_DIR/report.html in headless Chromium (no network) and check the screenshot is not blank.
# Usage: tools/check_report_chromium.sh REPORT_DIR [SCREENSHOT.png]
# Exit codes: 0 ok, 1 the render failed or looks blank, 2 bad usage, 3 no chromium on this machine.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 REPORT_DIR [SCREENSHOT.png]" >&2
    exit 2
fi
report_dir=$(cd "$1" && pwd)
html="$report_dir/report.html"
shot=${2:-$report_dir/report-screenshot.png}
[[ -f "$html" ]] || { echo "error: no report.html in $report_dir" >&2; exit 2; }
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[[ -n "$chromium" ]] || { echo "error: chromium not found (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 3; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$shot")"
rm -f "$shot"
# --virtual-time-budget lets the page finish decoding its embedded images before the shot is taken
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$profile" --hide-scrollbars --virtual-time-budget=5000 \
    --screenshot="$shot" --window-size=1400,4000 "file://$html" >"$profile/chromium.log" 2>&1 || {
    echo "error: chromium failed; its log:" >&2
    tail -20 "$profile/chromium.log" >&2
    exit 1
}
[[ -s "$shot" ]] || { echo "error: chromium wrote no screenshot" >&2; exit 1; }

# non-trivial: a large screenshot with many colours and a fair share of non-white pixels (text and figures)
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$( [[ -x "$repo/.venv/bin/python" ]] && echo "$repo/.venv/bin/python" || echo python3 )}
"$python" - "$shot" <<'EOF'
import sys

import numpy as np
from PIL import Image

path = sys.argv[1]
pixels = np.asarray(Image.open(path).convert("RGB"))
height, width, _ = pixels.shape
nonwhite = float((pixels.min(axis=2) < 245).mean())
colours = len(np.unique(pixels[::4, ::4].reshape(-1, 3), axis=0))
print(f"screenshot {path}: {width}x{height}, {colours} colours (sampled), {100 * nonwhite:.1f}% non-white pixels")
if width < 1000 or height < 1000 or colours < 200 or nonwhite < 0.02:
    sys.exit("error: the screenshot looks blank or trivial")
EOF
echo "ok: $shot"
