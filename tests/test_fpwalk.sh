#!/usr/bin/env bash
# The feature checks of make check-aarch64 (tests/aarch64/feature_checks.py),
# natively on this machine's build/python: the sys API, the map, and walks of
# the frame-pointer chain taken from inside Python code (tests/aarch64/
# fpwalk.c, built here against build/), which must show every Python frame
# in order, through trampolines called from C and through the frame records
# the evaluator writes for inlined calls, also after exceptions unwound
# inlined frames and after generator functions were called inline.  perf
# itself is not needed.
. "$(dirname "$0")/lib.sh" test_fpwalk

"$CC_FOR_TESTS" -shared -fPIC -O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
    -Wall -I"$BUILD/Include" -I"$BUILD" -o "$TMP/_fpwalk$EXT_SUFFIX" \
    "$REPO/tests/aarch64/fpwalk.c" \
    || { say "FAIL: cannot build _fpwalk"; exit 1; }
# The checks write maps and dumps for their own pids and remove them.
cd "$TMP"
PYTHONPATH=$TMP "$PYTHON" "$REPO/tests/aarch64/feature_checks.py" \
    || { say "FAIL"; exit 1; }
say "PASS"
