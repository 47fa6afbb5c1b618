#!/usr/bin/env bash
# Loads a Temporal Web UI page in headless Debian Chromium and writes its DOM
# to stdout; with a second argument, also a screenshot (PNG) of it.
#   test/webui/screenshot.sh URL [OUT.png]
# The flags keep Chromium off the network (this machine has none) and let
# the single-page app render before the DOM is dumped.
set -euo pipefail
url=$1
out=${2:-}
chrome=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chrome" ] || { echo "chromium not found at $chrome: apt-get install -y chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir="$profile"
       --window-size=1440,900 --virtual-time-budget=20000 --run-all-compositor-stages-before-draw)
if [ -n "$out" ]; then
  "$chrome" "${flags[@]}" --screenshot="$out" "$url" >/dev/null 2>&1
fi
exec "$chrome" "${flags[@]}" --dump-dom "$url" 2>/dev/null
