#!/usr/bin/env bash
# Render an HTML page (e.g. the flame graph) in headless Chromium and save
# a PNG screenshot, to look at what a browser really shows.
#
#   tools/screenshot-html.sh PAGE.html[#fragment] OUT.png [WIDTH,HEIGHT] [SCALE]
#
# The fragment can carry flamegraph.py's #q=SEARCH and #zoom=FRAME.  SCALE
# (default 1) is Chromium's device scale factor: 0.75 gives a smaller image
# of the same layout.  Chromium runs with a new, empty profile and with
# its background network features off.  Needs Debian's chromium.
. "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || die "usage: $0 PAGE.html[#fragment] OUT.png [WIDTH,HEIGHT] [SCALE]"
page=$1 out=$2 size=${3:-1400,900} scale=${4:-1}
command -v chromium >/dev/null || die "chromium not found (apt-get install chromium)"
file=${page%%#*}
frag=${page#"$file"}
[ -f "$file" ] || die "no such file: $file"
file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

make_temp
rm -f "$out"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$TMP/profile" \
    --force-device-scale-factor="$scale" \
    --screenshot="$out" --window-size="$size" "file://$file$frag" \
    >"$TMP/chromium.log" 2>&1 || true
[ -s "$out" ] || { cat "$TMP/chromium.log" >&2; die "chromium wrote no screenshot"; }
say "wrote $out"
