#!/usr/bin/env bash
# The patched tree built with ASan + UBSan runs test_perf_profiler with no
# sanitizer report (make check-asan, tools/check-asan.sh), and
# test_robustness.py too once that is part of make test (in tests/).  The
# build is stamped in build-asan/: only the first run, and a run after the
# patches changed, pays for it (about 6 minutes of CPU).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
if ! printf 'int main(void){return 0;}\n' \
        | gcc -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null; then
    echo "test_asan: skipped: gcc cannot link with -fsanitize=address,undefined (libasan/libubsan missing)"
    exit 77
fi
if [ ! -e "$REPO/tests/test_robustness.py" ]; then
    export ASAN_ROBUSTNESS=0
fi
exec "$REPO/tools/check-asan.sh"
