# shellcheck shell=bash
# The common start of the tests that compile C code against build/
# (test_embed.sh, test_fiber.sh, test_fpwalk.sh).  Source it with the
# test's name as argument:
#
#   . "$(dirname "$0")/lib.sh" test_fiber
#
# It sets REPO, PYTHON, BUILD (the directory of $PYTHON), CC_FOR_TESTS (the
# interpreter's compiler), EXT_SUFFIX and TMP (a fresh directory, removed
# at exit, together with the perf files of the pids listed in PERF_PIDS),
# defines say(), fails if $PYTHON is missing and skips (exit 77) without
# a compiler.
set -eu -o pipefail
TEST_NAME=$1
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PYTHON=${PYTHON:-$REPO/build/python}
say() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
[ -x "$PYTHON" ] || { say "FAIL: $PYTHON does not exist: run make"; exit 1; }
# shellcheck disable=SC2034  # BUILD and EXT_SUFFIX are for the sourcer
BUILD=$(dirname "$PYTHON")
CC_FOR_TESTS=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("CC").split()[0])')
command -v "$CC_FOR_TESTS" >/dev/null \
    || { say "SKIP: no C compiler ($CC_FOR_TESTS)"; exit 77; }
# shellcheck disable=SC2034
EXT_SUFFIX=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
TMP=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
PERF_PIDS=()
cleanup_tmp() {
    rm -rf "$TMP"
    local pid
    for pid in "${PERF_PIDS[@]}"; do
        rm -f "/tmp/perf-$pid.map" "/tmp/jit-$pid.dump"
    done
}
trap cleanup_tmp EXIT
