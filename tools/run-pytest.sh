#!/usr/bin/env bash
# One CPython regression test module, run by the built interpreter:
#   cd build && ./python -m test $PYTEST_FLAGS NAME
# Exit 77 (skipped) only while the project carries no change yet and the
# module does not exist (test_perf_profiler arrives with the overlay);
# afterwards a missing module is a failure.
. "$(dirname "$0")/lib.sh"

name=${1:?usage: run-pytest.sh TEST_MODULE}
[ -x "$REPO/build/python" ] || die "build/python does not exist: run make"
if [ ! -e "$REPO/build/Lib/test/$name.py" ] && [ ! -d "$REPO/build/Lib/test/$name" ]; then
    if feature_expected "$REPO"; then
        die "Lib/test/$name is not in the patched tree"
    fi
    say "skipped: Lib/test/$name does not exist yet (overlay/ and patches/ are empty)"
    exit 77
fi
flags=${PYTEST_FLAGS-"-v --timeout=1200"}
cd "$REPO/build"
# shellcheck disable=SC2086
exec ./python -m test $flags "$name"
