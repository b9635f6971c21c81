#!/usr/bin/env bash
# make check-full: CPython's complete test suite on pristine 3.11.2 and on
# the patched build, configured alike; fails on any test whose result
# differs (tools/check-full.py does the running and the comparison).
#
#   build-full/pristine/  pristine 3.11.2 (tools/patched-build.sh --pristine:
#                         the frame-pointer flags the patched configure
#                         adds by default, given as CFLAGS_NODIST, as
#                         tools/bench-pristine.sh does for build-pristine/)
#   build-full/patchset/  pristine + overlay/ + patches/series
#                         (tools/patched-build.sh)
#   dist/check-full/      logs, JUnit XML and report.md
#
# Both with $CONFIGURE_FLAGS, both stamped (rebuilt only when their inputs
# change).  The two paths have the same length on purpose: tests that bind
# AF_UNIX sockets under the tree skip when the path exceeds 108 bytes
# (test_pathlib's test_is_socket_true did, in one tree only).  Neither is shared: make all rebuilds build/ whenever the
# patches change and the benchmarks rebuild build-pristine/ when their
# recipe changes, either possibly in the middle of a 15-minute run.
#
# Slow (about 15 minutes per suite on 2 cores): not part of make test.
# Knobs: CHECK_FULL_JOBS (default 2), CHECK_FULL_TIMEOUT (per test module,
# default 300 s), CHECK_FULL_EXCLUDE (default test_socket, which hangs
# here; "" to run it), CHECK_FULL_RERUN (re-runs of differing modules
# before a difference counts, default 1), CHECK_FULL_NICE (default 10),
# CHECK_FULL_ARGS (more tools/check-full.py options, e.g. "--reuse pristine"
# to keep the pristine results of the previous run).
. "$(dirname "$0")/lib.sh"

OUT=$REPO/dist/check-full
CONFIGURE_FLAGS=${CONFIGURE_FLAGS:-}

set -f
# shellcheck disable=SC2086
"$TOOLS/patched-build.sh" --pristine build-full/pristine $CONFIGURE_FLAGS
# shellcheck disable=SC2086
"$TOOLS/patched-build.sh" build-full/patchset $CONFIGURE_FLAGS
set +f

runner=$(command -v python3 || echo "$REPO/build-full/pristine/python")
mkdir -p "$OUT"
exec "$runner" "$TOOLS/check-full.py" \
    --jobs "${CHECK_FULL_JOBS:-2}" \
    --timeout "${CHECK_FULL_TIMEOUT:-300}" \
    --rerun "${CHECK_FULL_RERUN:-1}" \
    --nice "${CHECK_FULL_NICE:-10}" \
    --exclude "${CHECK_FULL_EXCLUDE-test_socket}" \
    ${CHECK_FULL_ARGS:-} \
    "$REPO/build-full/pristine" "$REPO/build-full/patchset" "$OUT"
