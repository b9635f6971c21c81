#!/usr/bin/env bash
# make install / make altinstall give an installed interpreter with the
# perf support, run from the install location.
#
# build/ is configured with CPython's default prefix /usr/local, so the
# installs are staged with DESTDIR (as a package build does) and the staged
# interpreter is run directly: Python 3.11 finds its standard library
# relative to its executable, so sys.prefix is the staged directory and
# nothing of build/ is used.  Installing to another prefix needs build/
# configured for it (make install PREFIX=DIR reconfigures and rebuilds);
# the test checks that a mismatched PREFIX is refused instead of silently
# installing an interpreter that points elsewhere.
#
# About 2-3 minutes on 2 cores (two installs, pip skipped with ENSUREPIP=no).
set -eu -o pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
say() { printf 'test_install: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# perf's build-id cache (a copy of every binary recorded) stays in TMP.
perf() { command perf --buildid-dir "$TMP/buildid" "$@"; }

# Our make, without the flags of a make that may be running this test.
submake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO" "$@"
}

# check_installed PY ROOT [noperf]: the interpreter at PY, run from there,
# is complete (prefix ROOT) and has the feature.
check_installed() {
    local py=$1 root=$2 noperf=${3:-}
    [ -x "$py" ] || fail "$py is missing"
    (cd "$TMP" && "$py" - "$root" <<'EOF') || fail "$py: checks failed"
import os, sys, sysconfig
root = sys.argv[1]
assert sys.prefix == root, (sys.prefix, root)
assert os.__file__.startswith(root + "/lib/python3.11/"), os.__file__
import _testinternalcapi, _ctypes, _struct, math          # lib-dynload
assert hasattr(_testinternalcapi, "perf_map_state_init")
assert sysconfig.get_config_var("PY_HAVE_PERF_TRAMPOLINE") == 1
assert "-fno-omit-frame-pointer" in sysconfig.get_config_var("PY_CFLAGS_NODIST")

def installed_fn():
    return 1

sys.activate_stack_trampoline("perf")
installed_fn()
sys.deactivate_stack_trampoline()
path = "/tmp/perf-%d.map" % os.getpid()
with open(path) as f:
    lines = [l for l in f if " py::installed_fn:" in l]
os.unlink(path)
assert len(lines) == 1, lines
print("  ", sys.executable, "prefix", sys.prefix, "| map:", lines[0].strip())
EOF
    # -X perf from startup, and perf itself resolving the names.
    if [ -n "$noperf" ]; then
        :
    elif command -v perf >/dev/null; then
        perf record -q -F 999 -g -o "$TMP/perf.data" -- \
            "$py" -X perf "$REPO/examples/perf_demo.py" >/dev/null 2>&1 \
            || fail "perf record of the installed interpreter failed"
        perf report -i "$TMP/perf.data" --stdio --no-children 2>/dev/null >"$TMP/report.txt"
        local pid
        pid=$(perf script -i "$TMP/perf.data" 2>/dev/null | awk 'NR == 1 { print $2 }')
        rm -f "/tmp/perf-$pid.map" "$TMP/perf.data"
        grep -q 'py::foo:' "$TMP/report.txt" \
            || fail "perf report of the installed interpreter shows no py::foo"
        say "perf report of the installed $py shows py::foo"
    else
        say "note: perf not installed, perf report not checked"
    fi
}

# 1. make install: python3.11 plus the unversioned names.
stage=$TMP/install
out=$(submake install DESTDIR="$stage" ENSUREPIP=no 2>"$TMP/install.log") \
    || { tail -30 "$TMP/install.log" >&2; fail "make install failed"; }
py=$(printf '%s\n' "$out" | tail -n 1)
[ "$py" = "$stage/usr/local/bin/python3.11" ] || fail "make install printed '$py'"
[ -x "$stage/usr/local/bin/python3" ] || fail "make install did not create python3"
check_installed "$py" "$stage/usr/local"
check_installed "$stage/usr/local/bin/python3" "$stage/usr/local" noperf

# 2. make altinstall, with PREFIX equal to the configured prefix (accepted
#    without a rebuild): python3.11 only.
configured=$(sed -n 's/^prefix=[[:space:]]*//p' "$REPO/build/Makefile" | head -n 1)
stage=$TMP/altinstall
out=$(submake altinstall PREFIX="$configured" DESTDIR="$stage" ENSUREPIP=no 2>"$TMP/altinstall.log") \
    || { tail -30 "$TMP/altinstall.log" >&2; fail "make altinstall failed"; }
py=$(printf '%s\n' "$out" | tail -n 1)
[ "$py" = "$stage$configured/bin/python3.11" ] || fail "make altinstall printed '$py'"
[ ! -e "$stage$configured/bin/python3" ] || fail "make altinstall created python3"
check_installed "$py" "$stage$configured"

# 3. A PREFIX build/ is not configured for is refused (CONFIGURE_FLAGS on
#    the command line keeps make from reconfiguring build/ for it).
if submake install PREFIX="$TMP/elsewhere" CONFIGURE_FLAGS="${CONFIGURE_FLAGS:-}" \
        DESTDIR="$TMP/never" ENSUREPIP=no >"$TMP/refused.log" 2>&1; then
    fail "make install with a PREFIX build/ is not configured for succeeded"
fi
grep -q "configured for prefix $configured" "$TMP/refused.log" \
    || { cat "$TMP/refused.log" >&2; fail "no clear message for a mismatched PREFIX"; }
[ ! -e "$TMP/never" ] || fail "the refused install wrote files"
say "PASS"
