#!/usr/bin/env bash
# make flamegraph (alias demo-flamegraph): profile a program with
# build/python -X perf and write an interactive flame graph of it.
#
#   tools/demo-flamegraph.sh [OUT.html [PROGRAM [ARGS...]]]
#
# OUT defaults to dist/flamegraph.html, PROGRAM to examples/perf_demo.py.
# FLAMEGRAPH_FLAGS (default --fold-internal) is passed to tools/flamegraph.py.
# The steps are the ones a user runs by hand:
#
#   perf record -F 9999 -g -o perf.data -- build/python -X perf PROGRAM
#   perf script --header -i perf.data | tools/flamegraph.py --fold-internal \
#       --title 'build/python -X perf PROGRAM' -o flamegraph.html
#
# perf script must run while /tmp/perf-<pid>.map still exists; the maps of
# the recorded processes are removed afterwards.  The last line printed is the absolute output path.
. "$(dirname "$0")/lib.sh"

out=${1:-$REPO/dist/flamegraph.html}
prog=${2:-$REPO/examples/perf_demo.py}
shift $(( $# > 2 ? 2 : $# ))
flags=${FLAMEGRAPH_FLAGS---fold-internal}

python=$REPO/build/python
[ -x "$python" ] || die "build/python does not exist: run make"
command -v perf >/dev/null || die "perf not found: run make deps (package linux-perf)"
[ -f "$prog" ] || die "no such program: $prog"
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

make_temp
# Keep perf's build-id cache (a copy of every binary recorded) out of ~/.debug.
perf() { command perf --buildid-dir "$TMP/buildid" "$@"; }
perf record -q -F 9999 -g -o "$TMP/perf.data" -- \
    "$python" -X perf "$prog" "$@" >/dev/null \
    || die "perf record failed (is perf_event_open allowed here? see /proc/sys/kernel/perf_event_paranoid)"
perf script --header -i "$TMP/perf.data" >"$TMP/perf.txt" 2>"$TMP/script.err" \
    || { cat "$TMP/script.err" >&2; die "perf script failed"; }
# Remove the maps of the recorded process(es), now that perf has read them.
for pid in $(awk '/^[^#[:space:]]/ && $2 ~ /^[0-9]+(\/[0-9]+)?$/ { split($2, a, "/"); print a[1] }' \
                 "$TMP/perf.txt" | sort -u); do
    rm -f "/tmp/perf-$pid.map"
done

rel=${prog#"$REPO"/}
# shellcheck disable=SC2086  # FLAMEGRAPH_FLAGS is a list of options
"$python" "$TOOLS/flamegraph.py" $flags \
    --title "build/python -X perf $rel${*:+ $*}" -o "$out" "$TMP/perf.txt"
nsamples=$(grep -c '^[^#[:space:]].* cpu-clock:\|^[^#[:space:]].* cycles' "$TMP/perf.txt" || true)
npy=$(grep -c 'py::' "$TMP/perf.txt" || true)
say "$nsamples samples, $npy Python frames; open it in a browser (search: Ctrl-F, click to zoom)"
echo "$out"
