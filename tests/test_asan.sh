#!/usr/bin/env bash
# The patched tree built with ASan + UBSan runs test_perf_profiler and
# tests/test_robustness.py (its stress tests at a quarter of their size)
# with no sanitizer report: make check-asan, tools/check-asan.sh.  The
# build is stamped in build-asan/: only the first run, and a run after the
# patches changed, pays for it (about 6 minutes of CPU).
set -u
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
if ! printf 'int main(void){return 0;}\n' \
        | gcc -x c -fsanitize=address,undefined -o /dev/null - 2>/dev/null; then
    echo "test_asan: skipped: gcc cannot link with -fsanitize=address,undefined (libasan/libubsan missing)"
    exit 77
fi
exec "$REPO/tools/check-asan.sh"
