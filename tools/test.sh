#!/usr/bin/env bash
# make test: the project's whole test suite.  Every step runs even when an
# earlier one failed; the summary ends with the line "N passed, N failed",
# and the exit status is non-zero if any step failed.
#
#   build            make all (incremental: a no-op when build/ is current)
#   check-roundtrip  prepare + export reproduce overlay/ and patches/
#   check-configure  configure/pyconfig.h.in match autoconf2.69's output
#   check-patch      the combined patch builds with plain configure && make
#   python -m test   each module of $PYTESTS, run by build/python
#   tests/...        the project tests (tests/run.sh)
. "$(dirname "$0")/lib.sh"
. "$TOOLS/steps.sh"

PYTESTS=${PYTESTS-test_perf_profiler test_sys}

steps_begin
step build "$TOOLS/build.sh"
step check-roundtrip "$TOOLS/check-roundtrip.sh"
step check-configure "$TOOLS/check-configure.sh"
step check-patch "$TOOLS/check-patch.sh"
for t in $PYTESTS; do
    step "python -m test $t" "$TOOLS/run-pytest.sh" "$t"
done
# tests/run.sh records its own steps in our log; a non-zero status from it
# means it broke before it could.
"$REPO/tests/run.sh" || step tests/run.sh false
steps_end
