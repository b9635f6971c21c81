#!/usr/bin/env bash
# The jitdump backend end to end with this machine's perf, where it
# matters most: an interpreter built --without-frame-pointers, so that
# perf's DWARF unwinder is the only way through the trampolines (build-nofp/,
# the interpreter binary only), and the default build for comparison.
# tests/perf_jit_e2e.py does the recording and the checks (>= 80 % full
# chains, file:line for the trampolines); it exits 77 where perf cannot
# record.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-build/python}
# The checks run on the machine's python3: build/ may be mid-rebuild.
HOST_PYTHON=$(command -v python3 || echo "$PYTHON")

MAKE_TARGETS=python tools/patched-build.sh build-nofp --without-frame-pointers

# The point of this build: no frame pointers in the core.
if grep -q -- '-fno-omit-frame-pointer' build-nofp/Makefile; then
    echo "build-nofp was configured with frame pointers" >&2
    exit 1
fi
exec "$HOST_PYTHON" tests/perf_jit_e2e.py build-nofp/python "$PYTHON"
