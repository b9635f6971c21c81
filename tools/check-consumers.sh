#!/usr/bin/env bash
# Reproduce the consumer checks of docs/consumers.md: what perf report,
# perf script, perf annotate, perf inject --jit, hotspot and bpftrace show
# for build/python with the perf support.  Not a CI step (hotspot, Xvfb,
# xdotool and bpftrace are not CI dependencies, and BPF needs root).
#
#   tools/check-consumers.sh [OUTDIR]      (default dist/consumers)
#   CONSUMERS="perf annotate jit hotspot bpftrace"   (the default: all)
#
# Each consumer's output goes to OUTDIR/<name>.txt (hotspot: PNG
# screenshots), and one summary line per consumer is printed.  A consumer
# whose tool is missing is reported as "skipped" with the Debian package
# to install.  The perf maps, jitdump files and perf inject's jitted-*.so
# files this script causes are removed at the end.
. "$(dirname "$0")/lib.sh"

out=${1:-$REPO/dist/consumers}
mkdir -p "$out"
out=$(cd "$out" && pwd)
python=${PYTHON:-$REPO/build/python}
[ -x "$python" ] || die "build/python does not exist: run make"
command -v perf >/dev/null || die "perf not found (package linux-perf)"

make_temp
# perf (record, inject) copies every binary it sees, jitted-*.so included,
# into its build-id cache, ~/.debug by default: keep ours in TMP.
perf() { command perf --buildid-dir "$TMP/buildid" "$@"; }
cleanup_pids=()
cleanup() {
    local p
    for p in "${cleanup_pids[@]}"; do
        rm -f "/tmp/perf-$p.map" "/tmp/jit-$p.dump" "/tmp/jitted-$p-"*.so
    done
    [ "${KEEP_TMP:-0}" = 1 ] && say "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
summary=()
note() { summary+=("$*"); say "$*"; }
want() { [[ " ${CONSUMERS:-perf annotate jit hotspot bpftrace} " == *" $1 "* ]]; }

# pid_of PERF.DATA: the pid of the first sample.
pid_of() { perf script -i "$1" 2>/dev/null | awk 'NR == 1 { print $2 }'; }

# Workloads.  tiny.py calls a trivial function millions of times, so that
# some samples land inside the trampolines themselves (for annotate).
cp "$REPO/examples/perf_demo.py" "$TMP/perf_demo.py"
cat >"$TMP/tiny.py" <<'EOF'
def tiny(x):
    return x


def loop(n):
    for i in range(n):
        tiny(i)


loop(3_000_000)
EOF
# spin.py: leaf <- middle <- top for $1 seconds; with $2=1 it sleeps 1 ms
# every 100 ms (blocking releases the GIL: the map is flushed); then it
# sleeps $3 seconds.
cat >"$TMP/spin.py" <<'EOF'
import sys, time

def leaf(n):
    s = 0
    for i in range(n):
        s += i
    return s

def middle(n):
    return leaf(n)

def top(seconds, pause):
    end = time.monotonic() + seconds
    nxt = time.monotonic() + 0.1
    while time.monotonic() < end:
        middle(20000)
        if pause and time.monotonic() > nxt:
            time.sleep(0.001)
            nxt = time.monotonic() + 0.1

top(float(sys.argv[1]), int(sys.argv[2]))
time.sleep(float(sys.argv[3]))
EOF
cd "$TMP"

# ---- perf report / perf script (perf map backend, frame pointers) -------
perf record -q -F 9999 -g -o perf.data -- "$python" -X perf perf_demo.py
pid=$(pid_of perf.data)
cleanup_pids+=("$pid")
perf report -i perf.data --stdio --no-children --percent-limit 5 2>/dev/null >"$out/perf-report.txt"
perf report -i perf.data --stdio --children --sort sym -g none --percent-limit 2 \
    2>/dev/null >"$out/perf-report-children.txt"
perf script -i perf.data 2>/dev/null >"$out/perf-script.txt"
if want perf; then
n=$(grep -c 'py::foo:' "$out/perf-report.txt" || true)
inc=$(awk '/py::foo:/ { print $1; exit }' "$out/perf-report-children.txt")
note "perf report: py::foo in $n call-chain line(s); --children: py::foo inclusive $inc"
n=$(grep -c 'py::' "$out/perf-script.txt" || true)
note "perf script: $n py:: frames, e.g. $(grep -m1 'py::foo:' "$out/perf-script.txt" | sed 's/^[[:space:]]*//')"
fi

# ---- perf annotate on a map-only symbol ----------------------------------
sym="py::tiny:$TMP/tiny.py"
if want annotate; then
perf record -q -F 9999 -g -o tiny.data -- "$python" -X perf tiny.py
tpid=$(pid_of tiny.data)
cleanup_pids+=("$tpid")
perf report -i tiny.data --stdio --no-children --sort dso,sym -g none 2>/dev/null \
    | grep 'py::tiny' >"$out/perf-annotate-map.txt" || true
{ echo "\$ perf annotate --stdio -s '$sym'"
  perf annotate -i tiny.data --stdio -s "$sym" 2>&1 || true
  echo "\$ perf annotate --stdio -s 'py::foo:.../perf_demo.py'   (no self samples)"
  perf annotate -i perf.data --stdio -s "py::foo:$TMP/perf_demo.py" 2>&1 || true
} >>"$out/perf-annotate-map.txt"
note "perf annotate (perf map): $(grep -m1 -o "Couldn't annotate.*\|has no samples.*" "$out/perf-annotate-map.txt" || echo 'see perf-annotate-map.txt')"
fi

# ---- perf inject --jit (jitdump backend) ---------------------------------
if ! want jit; then
    :
elif perf record -q -k 1 -F 999 --call-graph dwarf -o jit.data -- "$python" -X perf_jit tiny.py 2>"$out/perf-jit-record.err"; then
    jpid=$(pid_of jit.data)
    cleanup_pids+=("$jpid")
    perf inject --jit -i jit.data -o jit.inj.data
    njitted=$(ls "/tmp/jitted-$jpid-"*.so 2>/dev/null | wc -l)
    perf report -i jit.inj.data --stdio --children --sort dso,sym -g none 2>/dev/null \
        | grep 'py::' >"$out/perf-inject-jit-report.txt" || true
    perf script -i jit.inj.data 2>/dev/null | grep 'py::' | head -20 >"$out/perf-inject-jit-script.txt" || true
    perf annotate -i jit.inj.data --stdio -s "$sym" >"$out/perf-inject-jit-annotate.txt" 2>&1 || true
    note "perf inject --jit: $njitted jitted-$jpid-N.so in /tmp; report: $(grep -m1 "py::tiny" "$out/perf-inject-jit-report.txt" | tr -s ' ')"
    if grep -q 'push   %rbp' "$out/perf-inject-jit-annotate.txt"; then
        note "perf annotate (after inject): disassembles the trampoline of py::tiny (endbr64; push %rbp; mov %rsp,%rbp; sub \$512,%rsp; call; leave; ret)"
    else
        note "perf annotate (after inject): $(head -3 "$out/perf-inject-jit-annotate.txt" | tr '\n' ' ')"
    fi
else
    note "perf inject --jit: perf record -k 1 --call-graph dwarf failed: $(head -1 "$out/perf-jit-record.err")"
fi

# ---- hotspot under Xvfb ---------------------------------------------------
if ! want hotspot; then
    :
elif command -v hotspot >/dev/null && command -v Xvfb >/dev/null && command -v xdotool >/dev/null; then
    disp=
    for n in $(seq 90 120); do
        [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { disp=$n; break; }
    done
    mkdir -p fb xdg
    chmod 700 xdg
    Xvfb ":$disp" -screen 0 1400x1300x24 -fbdir "$TMP/fb" -nolisten tcp >xvfb.log 2>&1 &
    xvfb=$!
    for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$disp" ] && break; sleep 0.2; done
    DISPLAY=":$disp" XDG_RUNTIME_DIR=$TMP/xdg hotspot "$TMP/perf.data" >hotspot.log 2>&1 &
    hs=$!
    win=
    for _ in $(seq 120); do
        win=$(DISPLAY=":$disp" xdotool search --name 'perf.data - Hotspot' 2>/dev/null | head -n 1) || true
        [ -n "$win" ] && break
        sleep 0.5
    done
    if [ -n "$win" ]; then
        sleep 15                              # let perfparser finish
        export DISPLAY=":$disp"
        xdotool windowsize "$win" 1400 1300 windowmove "$win" 0 0
        sleep 2
        "$python" "$TOOLS/xwd2png.py" fb/Xvfb_screen0 "$out/hotspot-summary.png"
        xdotool mousemove 343 55 click 1      # the "Flame Graph" tab
        sleep 4
        "$python" "$TOOLS/xwd2png.py" fb/Xvfb_screen0 "$out/hotspot-flamegraph.png"
        xdotool mousemove 240 55 click 1      # the "Top Down" tab
        sleep 2
        xdotool mousemove 600 80 click 1 type 'py::foo'   # its search field
        sleep 3
        xdotool mousemove 200 130 click 1 key KP_Multiply # expand the first row
        sleep 3
        "$python" "$TOOLS/xwd2png.py" fb/Xvfb_screen0 "$out/hotspot-topdown-py.png"
        unset DISPLAY
        note "hotspot $(dpkg-query -W -f '${Version}' hotspot 2>/dev/null): screenshots hotspot-{summary,flamegraph,topdown-py}.png (look at them)"
    else
        note "hotspot: no window appeared (see $out/hotspot.log)"
    fi
    cp hotspot.log "$out/hotspot.log"
    kill "$hs" 2>/dev/null || true
    wait "$hs" 2>/dev/null || true
    kill "$xvfb" 2>/dev/null || true
    wait "$xvfb" 2>/dev/null || true
else
    note "hotspot: skipped (apt-get install hotspot xvfb xdotool)"
fi

# ---- bpftrace: a system-wide sampler reading the map -------------------
# bpftrace resolves user stacks when it prints them (at exit), from the
# target's /proc/PID/maps and /tmp/perf-PID.map, so the process must still
# run then and the map lines must have been written out by then.
bpf_run() {  # bpf_run NAME PAUSE: spin.py 40 s hot (PAUSE=1: with 1 ms sleeps)
    "$python" -X perf spin.py 40 "$2" 20 &
    local p=$! n_py n_raw
    cleanup_pids+=("$p")
    sleep 1
    timeout 120 bpftrace -e "profile:hz:99 /pid == $p/ { @[ustack] = count(); } interval:s:3 { exit(); }" \
        >"$out/bpftrace-$1.txt" 2>"$out/bpftrace-$1.err" || true
    local lines
    lines=$(wc -l <"/tmp/perf-$p.map" 2>/dev/null || echo 0)
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    n_py=$(grep -c 'py::' "$out/bpftrace-$1.txt" || true)
    n_raw=$(grep -cE '^[[:space:]]+0x7f[0-9a-f]+$' "$out/bpftrace-$1.txt" || true)
    note "bpftrace ($1): $(grep -c '^@\[' "$out/bpftrace-$1.txt" || true) stacks, $n_py py:: frames, $n_raw unresolved 0x7f... frames; map had $lines lines when bpftrace finished"
}
if ! want bpftrace; then
    :
elif command -v bpftrace >/dev/null && [ "$(id -u)" = 0 ]; then
    bpf_run cpu-bound 0
    bpf_run blocking 1
else
    note "bpftrace: skipped (needs root and apt-get install bpftrace)"
fi

printf '%s\n' "${summary[@]}" >"$out/summary.txt"
echo "$out"
