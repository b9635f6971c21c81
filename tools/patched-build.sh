#!/usr/bin/env bash
# tools/patched-build.sh [--pristine] DEST [CONFIGURE ARGS...]
#
# Builds pristine 3.11.2 + overlay/ + patches/series in DEST (a directory
# under the repository, e.g. build-asan/ or build-full/), configured with the
# given arguments, with the same helpers as make all (tools/lib.sh:
# patched_tree).
#
# --pristine: pristine 3.11.2 alone, configured like the patched build
# would be: pristine configure knows no --with[out]-frame-pointers, so the
# frame-pointer flags the patched configure adds by default are given as
# CFLAGS_NODIST (the same place in the compiler command line), and the
# option itself is dropped (the way tools/bench-pristine.sh builds the
# benchmarks' reference, in its own directory so that neither run
# clobbers the other).  Environment variables that ./configure reads (CC, CFLAGS,
# ASAN_OPTIONS, ...) are passed through and are part of the build's identity
# when listed in PATCHED_BUILD_ENV (space-separated names).
#
# A stamp (DEST/.perf311-patched-built) holds the hash of the inputs (the
# same inputs_hash as build/, plus this script, the arguments and the listed
# environment): unchanged, nothing is done; changed, DEST is rebuilt from
# scratch.  Used by make check-asan and make check-full, which must not
# share build/ (make all rebuilds it whenever the patches change, possibly
# while a long test run is using it).
#
# MAKE_TARGETS (default: make's default target) limits what is built.
. "$(dirname "$0")/lib.sh"

pristine=0
if [ "${1:-}" = --pristine ]; then
    pristine=1
    shift
fi
[ $# -ge 1 ] || die "usage: $0 [--pristine] DEST [CONFIGURE ARGS...]"
case $1 in
    /*) DEST=$1 ;;
    *) DEST=$REPO/$1 ;;
esac
shift
JOBS=${JOBS:-$(nproc)}
MAKE_TARGETS=${MAKE_TARGETS:-}
cflags_nodist=
if [ "$pristine" = 1 ]; then
    cflags_nodist="-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
    args=()
    for word in "$@"; do
        case $word in
            --without-frame-pointers|--with-frame-pointers=no) cflags_nodist= ;;
            --with-frame-pointers|--with-frame-pointers=yes) ;;
            *) args+=("$word") ;;
        esac
    done
    set -- "${args[@]}"
fi

want=$({
    if [ "$pristine" = 1 ]; then
        echo "pristine $VERSION cflags_nodist $cflags_nodist"
    else
        echo "inputs $(inputs_hash)"
    fi
    printf 'arg %s\n' "$@"
    for name in ${PATCHED_BUILD_ENV:-}; do
        printf 'env %s=%s\n' "$name" "${!name:-}"
    done
    echo "targets $MAKE_TARGETS"
    cat "$0"
} | sha256sum | cut -d' ' -f1)

stamp=$DEST/.perf311-patched-built
if [ -x "$DEST/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    say "$DEST is up to date"
    exit 0
fi

say "building $DEST from scratch (configure $*)"
rm -rf "$DEST"
fetch_tarball
if [ "$pristine" = 1 ]; then
    extract_pristine "$DEST"
else
    patched_tree "$DEST"
fi
printf '*\n' >"$DEST/.gitignore"
if [ -n "$cflags_nodist" ]; then
    export CFLAGS_NODIST="$cflags_nodist${CFLAGS_NODIST:+ $CFLAGS_NODIST}"
fi
(cd "$DEST" && no_makeflags ./configure "$@" >configure.out 2>&1) \
    || { tail -n 30 "$DEST/configure.out"; die "./configure failed (log: $DEST/config.log)"; }
# shellcheck disable=SC2086
(cd "$DEST" && no_makeflags make -j"$JOBS" $MAKE_TARGETS >make.out 2>&1) \
    || { tail -n 40 "$DEST/make.out"; die "make failed in $DEST (log: $DEST/make.out)"; }
[ -x "$DEST/python" ] || die "make succeeded but $DEST/python is missing"
echo "$want" >"$stamp"
say "built $DEST/python"
