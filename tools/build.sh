#!/usr/bin/env bash
# make all: build/ := pristine 3.11.2 + overlay/ + patches/series, configured
# with $CONFIGURE_FLAGS and built; the interpreter is build/python.
#
# Two stamps hold the hash of the inputs (tools/lib.sh: inputs_hash):
#   build/.perf311-configured  written after ./configure succeeded
#   build/.perf311-built       written after make succeeded
# Same hash in .perf311-built: nothing to do.  Same hash in .perf311-configured
# only: an earlier make failed or was interrupted, so resume it.  Otherwise
# (overlay/, patches/, CONFIGURE_FLAGS or these scripts changed) start from
# scratch: a fresh extraction is the only way to be sure no stale file
# survives a removed patch.
. "$(dirname "$0")/lib.sh"

BUILD=$REPO/build
JOBS=${JOBS:-$(nproc)}
CONFIGURE_FLAGS=${CONFIGURE_FLAGS:-}
want=$(inputs_hash)

if [ -x "$BUILD/python" ] && [ "$(cat "$BUILD/.perf311-built" 2>/dev/null)" = "$want" ]; then
    say "build/python is up to date"
    exit 0
fi

if [ "$(cat "$BUILD/.perf311-configured" 2>/dev/null)" = "$want" ]; then
    say "resuming the build in build/"
else
    say "building build/ from scratch (CONFIGURE_FLAGS='$CONFIGURE_FLAGS')"
    rm -rf "$BUILD"
    fetch_tarball
    patched_tree "$BUILD"
    # CONFIGURE_FLAGS is a list of words: split it, but never glob it.
    set -f
    # shellcheck disable=SC2086
    (cd "$BUILD" && ./configure $CONFIGURE_FLAGS) || die "./configure failed (log: build/config.log)"
    set +f
    echo "$want" >"$BUILD/.perf311-configured"
fi

rm -f "$BUILD/.perf311-built"
(cd "$BUILD" && no_makeflags make -j"$JOBS") || die "make in build/ failed"
[ -x "$BUILD/python" ] || die "make succeeded but build/python is missing"
echo "$want" >"$BUILD/.perf311-built"
say "built $BUILD/python"
