#!/usr/bin/env bash
# An application embedding the interpreter (linked with build/'s
# libpython3.11.a) uses the perf map C API before Py_Initialize() and after
# Py_Finalize(), with PYTHONMALLOC=debug, and the interpreter's perf backend
# in between (tests/embed/early_map.c).  It must exit 0 (before the
# perf support state moved to the C library's allocator, freeing the map
# buffer through the debug allocator aborted: "bad ID"), and its map must
# hold the three entries in order.
. "$(dirname "$0")/lib.sh" test_embed
[ -f "$BUILD/libpython3.11.a" ] \
    || { say "FAIL: $BUILD/libpython3.11.a missing: run make"; exit 1; }
libs=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBS"), sysconfig.get_config_var("SYSLIBS"))')

# shellcheck disable=SC2086  # $libs is a list of flags
"$CC_FOR_TESTS" -O1 -fno-omit-frame-pointer -I"$BUILD/Include" -I"$BUILD" \
    -o "$TMP/early_map" "$REPO/tests/embed/early_map.c" \
    "$BUILD/libpython3.11.a" $libs -Wl,-E \
    || { say "FAIL: cannot build early_map"; exit 1; }

out=$(PYTHONHOME=$BUILD PYTHONPATH=$BUILD/Lib PYTHONMALLOC=debug \
      "$TMP/early_map" 2>"$TMP/err") \
    || { say "FAIL: early_map exited with $?: $(tail -3 "$TMP/err")"; exit 1; }
pid=${out#pid=}
PERF_PIDS+=("$pid")
map=/tmp/perf-$pid.map
[ -f "$map" ] || { say "FAIL: $map missing"; exit 1; }
names=$(awk '{print $3}' "$map" | grep -E '^(jit::|py::in_python:)' | sed 's/:<string>$//' | tr '\n' ' ')
if [ "$names" != "jit::before py::in_python jit::after " ]; then
    say "FAIL: map entries: '$names'"
    cat "$map" >&2
    exit 1
fi
say "PASS: before/after the interpreter, PYTHONMALLOC=debug: $names"
