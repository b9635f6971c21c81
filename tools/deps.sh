#!/usr/bin/env bash
# make deps: install the Debian packages the project needs, if missing.
# Fast on a prepared machine: nothing is fetched (not even the package
# index) when every package is already installed.
. "$(dirname "$0")/lib.sh"

# build-essential .. uuid-dev: CPython and its standard extension modules;
# autoconf2.69 + autoconf-archive: check-configure; linux-perf: demo and
# test_perf_profiler; git, patch, xz-utils, ca-certificates: the tools and
# fetch-source.sh; python3-greenlet: tests/test_robustness.py switches C
# stacks with it; valgrind: tests/test_memcheck.sh and make bench-callgrind.
PACKAGES="autoconf2.69 autoconf-archive build-essential pkg-config
libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev libsqlite3-dev
libreadline-dev libgdbm-dev uuid-dev linux-perf patch xz-utils
ca-certificates git python3-greenlet valgrind"

missing=
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    say "all $(echo $PACKAGES | wc -w) packages are installed"
    exit 0
fi
say "missing:$missing"
[ "$(id -u)" = 0 ] || die "run as root (or: sudo apt-get update && sudo apt-get install -y --no-install-recommends$missing)"
command -v apt-get >/dev/null || die "apt-get not found: this needs a Debian-based system"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
say "installed:$missing"
