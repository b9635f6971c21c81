#!/usr/bin/env bash
# The documentation pages the patch set touches (the perf how-to, sys,
# cmdline, howto/index, c-api/utilities + perfmaps, the NEWS entries) build
# with Debian's Sphinx without a single warning: tools/docs/build-docs.sh
# on the patched tree build/ (sphinx-build -W, minimal conf.py).
#
# sphinx-build comes from Debian's python3-sphinx.  If it is missing and we
# are root on a Debian system, it is installed (apt-get update first);
# otherwise the test is skipped.
set -eu -o pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
say() { printf 'test_docs: %s\n' "$*" >&2; }

if ! command -v sphinx-build >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "sphinx-build not found: installing python3-sphinx"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends python3-sphinx >/dev/null
    fi
    if ! command -v sphinx-build >/dev/null; then
        say "SKIP: sphinx-build not found and cannot be installed here (Debian: apt-get install python3-sphinx)"
        exit 77
    fi
fi
say "$(sphinx-build --version)"
[ -d "$REPO/build/Doc" ] || { say "FAIL: $REPO/build/Doc does not exist: run make"; exit 1; }

out=$(mktemp -d "${TMPDIR:-/tmp}/test_docs.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$REPO/tools/docs/build-docs.sh" "$REPO/build" "$out/html"
for page in howto/perf_profiling.html library/sys.html using/cmdline.html \
            c-api/perfmaps.html news.html; do
    [ -s "$out/html/$page" ] || { say "FAIL: $page was not written"; exit 1; }
done
grep -q 'activate_stack_trampoline' "$out/html/library/sys.html" \
    || { say "FAIL: sys.html does not document activate_stack_trampoline"; exit 1; }
grep -q 'perf_jit' "$out/html/using/cmdline.html" \
    || { say "FAIL: cmdline.html does not document -X perf_jit"; exit 1; }
say "PASS"
