#!/usr/bin/env bash
# The feature checks of make check-aarch64 (tests/aarch64/feature_checks.py),
# natively on this machine's build/python: the sys API, the map, and walks of
# the frame-pointer chain taken from inside Python code (tests/aarch64/
# fpwalk.c, built here against build/), which must show every Python frame
# in order, through trampolines called from C and through the frame records
# the evaluator writes for inlined calls, also after exceptions unwound
# inlined frames and after generator functions were called inline.  perf
# itself is not needed.
set -eu -o pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-$REPO/build/python}
say() { printf 'test_fpwalk: %s\n' "$*" >&2; }
[ -x "$PYTHON" ] || { say "FAIL: $PYTHON does not exist: run make"; exit 1; }
cc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("CC").split()[0])')
command -v "$cc" >/dev/null || { say "SKIP: no C compiler ($cc)"; exit 77; }
ext=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
build=$(dirname "$PYTHON")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_fpwalk.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

"$cc" -shared -fPIC -O2 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
    -Wall -I"$build/Include" -I"$build" -o "$TMP/_fpwalk$ext" \
    "$REPO/tests/aarch64/fpwalk.c" \
    || { say "FAIL: cannot build _fpwalk"; exit 1; }
# The checks write maps and dumps for their own pids and remove them.
cd "$TMP"
PYTHONPATH=$TMP "$PYTHON" "$REPO/tests/aarch64/feature_checks.py" \
    || { say "FAIL"; exit 1; }
say "PASS"
