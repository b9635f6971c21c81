#!/usr/bin/env bash
# ABI drop-in: an extension module compiled against PRISTINE 3.11.2 headers
# works in the patched interpreter with the perf trampoline active, and the
# public structures have the same size and layout with either set of
# headers.
#
# 1. Unpack the verified tarball from cache/ and run its ./configure, which
#    gives the pristine pyconfig.h next to the pristine Include/.
# 2. Compile tests/abi/abiprobe.c twice, against the pristine headers and
#    against the patched tree's (build/Include, build/pyconfig.h).
# 3. Import each build in build/python and run tests/abi/probe.py: with
#    the trampoline active it calls back into Python, compiles and runs
#    code from C (Py_CompileString, PyEval_EvalCode, PyCode_NewEmpty),
#    reads live PyConfig/PyThreadState/PyCodeObject fields through its
#    compile-time offsets and lets the library fill a PyConfig inside guard
#    bytes; every function must appear in the perf map.
# 4. The sizes and offsets the two builds report (sizeof/offsetof of every
#    field of PyConfig, PyCodeObject incl. co_code_adaptive, PyThreadState,
#    and the sizes of other public structs)
#    must be identical.  So must the internal _PyInterpreterFrame's
#    (tests/abi/frameprobe.c), which out-of-process profilers read at fixed
#    offsets and whose padding the patch set uses.
# 5. If a pristine interpreter exists (build-pristine/python, made by
#    make bench, or $PRISTINE_PYTHON), the module built against the patched
#    headers must work in it too ("vice versa").
set -eu -o pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-$REPO/build/python}
say() { printf 'test_abi: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[ -x "$PYTHON" ] || fail "$PYTHON does not exist: run make"
cc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("CC").split()[0])')
command -v "$cc" >/dev/null || { say "SKIP: no C compiler ($cc)"; exit 77; }
ext=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_abi.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# 1. Pristine headers and pyconfig.h.
"$REPO/tools/fetch-source.sh" "$REPO/cache/Python-3.11.2.tgz" >/dev/null
pristine=$TMP/pristine
mkdir -p "$pristine"
tar --no-same-owner -xzf "$REPO/cache/Python-3.11.2.tgz" -C "$pristine" --strip-components=1
if grep -rq 'perf_trampoline\|PyUnstable_PerfMapState' "$pristine/Include"; then
    fail "the extracted tree is not pristine"
fi
say "configuring pristine 3.11.2 for its pyconfig.h"
(cd "$pristine" && ./configure -q >"$TMP/configure.log" 2>&1) \
    || { tail -20 "$TMP/configure.log" >&2; fail "pristine ./configure failed"; }
[ -f "$pristine/pyconfig.h" ] || fail "no pristine pyconfig.h"

# 2. Two builds of the probe.
CFLAGS=(-O2 -g -fPIC -shared -fno-omit-frame-pointer -Wall
        -Werror=implicit-function-declaration)
build_probe() {  # build_probe OUTDIR INCLUDE-DIR CONFIG-DIR
    mkdir -p "$1"
    "$cc" "${CFLAGS[@]}" -I "$2" -I "$3" "$REPO/tests/abi/abiprobe.c" \
        -o "$1/abiprobe$ext" 2>"$1/cc.log" \
        || { cat "$1/cc.log" >&2; fail "compiling abiprobe against $2 failed"; }
    if [ -s "$1/cc.log" ]; then cat "$1/cc.log" >&2; fi
}
build_probe "$TMP/with-pristine" "$pristine/Include" "$pristine"
build_probe "$TMP/with-patched" "$REPO/build/Include" "$REPO/build"

# 3. Run each build in the patched interpreter, trampoline active.
cp "$REPO/tests/abi/probe.py" "$TMP/probe.py"
for which in pristine patched; do
    PYTHONPATH=$TMP/with-$which "$PYTHON" "$TMP/probe.py" "$TMP/layout-$which.json" \
        || fail "the module built with $which headers misbehaves in build/python"
done

# 4. Identical layouts: compare.py A B WHAT [KEY...] lists what differs
#    and fails, or prints the KEYs and a summary.
cat >"$TMP/compare.py" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
for k in diff:
    print("  %-48s pristine %s, patched %s" % (k, a.get(k), b.get(k)))
if diff or not a:
    sys.exit(1)
for k in sys.argv[4:]:
    print("  %-48s %s" % (k, a[k]))
print("test_abi: %s: %d sizes/offsets identical with pristine and patched "
      "headers" % (sys.argv[3], len(a)))
EOF
"$PYTHON" "$TMP/compare.py" "$TMP/layout-pristine.json" \
    "$TMP/layout-patched.json" "public structs" \
    "sizeof(PyConfig)" "sizeof(PyCodeObject)" \
    "offsetof(PyCodeObject, co_code_adaptive)" "sizeof(PyThreadState)" \
    || fail "layouts differ"

# The internal frame struct, compiled against each tree's headers.
for which in pristine patched; do
    if [ $which = pristine ]; then inc=$pristine/Include; cfg=$pristine
    else inc=$REPO/build/Include; cfg=$REPO/build; fi
    "$cc" -O0 -Wall -I "$inc" -I "$cfg" "$REPO/tests/abi/frameprobe.c" \
        -o "$TMP/frameprobe-$which" \
        || fail "compiling frameprobe against $which headers failed"
    "$TMP/frameprobe-$which" >"$TMP/frame-$which.json" \
        || fail "frameprobe ($which) failed"
done
"$PYTHON" "$TMP/compare.py" "$TMP/frame-pristine.json" \
    "$TMP/frame-patched.json" "_PyInterpreterFrame" \
    "sizeof(_PyInterpreterFrame)" \
    || fail "_PyInterpreterFrame layouts differ"

# 5. Vice versa, when a pristine interpreter is at hand.
pristine_python=${PRISTINE_PYTHON:-$REPO/build-pristine/python}
if [ -x "$pristine_python" ] && "$pristine_python" -c \
        'import sys; assert sys.version_info[:3] == (3, 11, 2); assert not hasattr(sys, "activate_stack_trampoline")' \
        2>/dev/null; then
    PYTHONPATH=$TMP/with-patched "$pristine_python" "$TMP/probe.py" "$TMP/layout-vv.json" \
        || fail "the module built with patched headers misbehaves in pristine $pristine_python"
    cmp -s "$TMP/layout-vv.json" "$TMP/layout-patched.json" || fail "layout differs in the pristine interpreter"
else
    say "note: no pristine interpreter ($pristine_python): the patched-headers build was not run on pristine 3.11.2"
fi
say "PASS"
