#!/usr/bin/env bash
# make demo: profile examples/perf_demo.py (baz -> bar -> foo) with perf,
# once with -X perf and once without, and show both reports.
#
#   perf record -F 9999 -g    sample often, with call stacks unwound through
#                             frame pointers (what the perf map needs)
#   perf report --no-children -g caller
#                             self time per symbol, call chains printed from
#                             the outermost caller down, so a hot foo reads
#                             ... py::baz -> py::bar -> py::foo
#   --percent-limit 5         leave out the long tail
. "$(dirname "$0")/lib.sh"

python=$REPO/build/python
[ -x "$python" ] || die "build/python does not exist: run make"
command -v perf >/dev/null || die "perf not found: run make deps (package linux-perf)"

make_temp
cp "$REPO/examples/perf_demo.py" "$TMP/"
cd "$TMP"

# profile LABEL PYTHON-ARGS...: record and report one run.
profile() {
    local label=$1 pid
    shift
    printf '\n======== %s\n' "$label"
    echo "\$ perf record -F 9999 -g -o perf.data build/python ${*:+$* }perf_demo.py"
    # The sh wrapper notes the pid (exec keeps it) so that the run's
    # /tmp/perf-<pid>.map can be removed after the report has read it.
    perf record -q -F 9999 -g -o "$TMP/perf.data" -- \
        sh -c 'echo $$ >"$0/pid"; shift; exec "$@"' "$TMP" sh "$python" "$@" perf_demo.py \
        || die "perf record failed (is perf_event_open allowed here? see /proc/sys/kernel/perf_event_paranoid)"
    echo "\$ perf report --stdio --no-children -g caller --percent-limit 5 -i perf.data"
    perf report --stdio --no-children -g caller --percent-limit 5 -i "$TMP/perf.data" \
        >"$TMP/report.txt" 2>"$TMP/report.err" || { cat "$TMP/report.err"; die "perf report failed"; }
    grep -v '^#' "$TMP/report.txt" | cat -s
    pid=$(cat "$TMP/pid")
    rm -f "/tmp/perf-$pid.map"
}

profile "with -X perf: Python functions appear as py::NAME:FILE" -X perf
with=$(grep -c 'py::foo:' "$TMP/report.txt" || true)
profile "without -X perf: only the interpreter's C functions"

echo
if [ "$with" -gt 0 ]; then
    say "the -X perf run shows py::foo (in $with report line(s)); the plain run does not"
elif feature_expected "$REPO"; then
    die "no py::foo frame in the -X perf profile: the perf support is not working"
else
    say "note: overlay/ and patches/ are empty, so this build has no perf support yet: no py:: frames"
fi
