#!/usr/bin/env bash
# Builds the reference interpreter of the benchmarks: pristine 3.11.2 (no
# overlay, no patches) in build-pristine/, configured like build/.
#
# build/ gets its frame-pointer flags from the patched configure, which adds
# "-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer" in front of
# CFLAGS_NODIST unless CONFIGURE_FLAGS has --without-frame-pointers.
# Pristine configure does not know that option, so here the same flags are
# given through the CFLAGS_NODIST environment variable (configure prepends
# it in the same place, and CONFIG_ARGS stays the same) and the option is
# dropped; every other word of CONFIGURE_FLAGS is passed through.
# bench/run.py compares the resulting sysconfig flags of both builds.
#
# A stamp (build-pristine/.bench-built) holds a hash of the version, the
# flags and RECIPE: unchanged, nothing is done.  Bump RECIPE when the way
# of building changes.
. "$(dirname "$0")/lib.sh"

DEST=$REPO/build-pristine

# One build at a time (make bench and other scripts share this tree): hold
# a lock on this script itself while checking and building.
exec 9<"$0"
flock 9
JOBS=${JOBS:-$(nproc)}
CONFIGURE_FLAGS=${CONFIGURE_FLAGS:-}

fp_flags="-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
args=()
set -f
# shellcheck disable=SC2086
for word in $CONFIGURE_FLAGS; do
    case $word in
        --without-frame-pointers|--with-frame-pointers=no) fp_flags= ;;
        --with-frame-pointers|--with-frame-pointers=yes) ;;
        *) args+=("$word") ;;
    esac
done
set +f

RECIPE=1
want=$(printf 'version %s\nrecipe %s\nfp %s\nargs %s\n' "$VERSION" "$RECIPE" \
       "$fp_flags" "${args[*]:-}" | sha256sum | cut -d' ' -f1)
if [ -x "$DEST/python" ] && [ "$(cat "$DEST/.bench-built" 2>/dev/null)" = "$want" ]; then
    say "build-pristine/python is up to date"
    exit 0
fi

say "building pristine $VERSION in build-pristine/ (CFLAGS_NODIST='$fp_flags' ${args[*]:-})"
rm -rf "$DEST"
fetch_tarball
extract_pristine "$DEST"
# Not part of the repository: ignore the whole tree without touching the
# top-level .gitignore.
printf '*\n' >"$DEST/.gitignore"
(cd "$DEST" && no_makeflags env CFLAGS_NODIST="$fp_flags" ./configure "${args[@]}" >configure.out) \
    || die "./configure failed (log: build-pristine/config.log)"
(cd "$DEST" && no_makeflags make -j"$JOBS" >make.out 2>&1) \
    || die "make in build-pristine/ failed (log: build-pristine/make.out)"
[ -x "$DEST/python" ] || die "make succeeded but build-pristine/python is missing"
echo "$want" >"$DEST/.bench-built"
say "built $DEST/python"
