# shellcheck shell=bash
# Shared helpers for tools/*.sh.  Source it (". tools/lib.sh"), don't run it.
#
# Every way of turning "pristine tarball + overlay/ + patches/" into a tree
# (make all, make patch, check-configure, prepare) goes through the functions
# below, so they cannot drift apart.

set -eu -o pipefail

VERSION=3.11.2
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$TOOLS")
# The verified tarball; tools/fetch-source.sh fills it (honouring
# CPYTHON_TARBALL).  Overridable so temp-dir checks share the main cache.
TARBALL=${TARBALL:-$REPO/cache/Python-$VERSION.tgz}

ME=$(basename "$0" .sh)
say() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Fixed identity and date for every commit the tools make (the pristine and
# overlay commits, and the committer side of `git am`), so that prepare
# produces the same commits, hashes and exported patches on every machine.
# 2023-02-08 is the 3.11.2 release day.
FIXED_NAME="perf311 tools"
FIXED_EMAIL="tools@perf311.invalid"
FIXED_DATE="2023-02-08T00:00:00+0000"

# git with the user's and the system's configuration ignored: settings such
# as core.autocrlf, diff.noprefix, format.signature, format.numbered or
# commit.gpgsign would otherwise change what the round trip produces.
pgit() {
    GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
        git -c core.autocrlf=false -c core.hooksPath=/dev/null "$@"
}

# pgit with the fixed committer (and, for fixed_commit, the fixed author).
fixed_committer_git() {
    GIT_COMMITTER_NAME=$FIXED_NAME GIT_COMMITTER_EMAIL=$FIXED_EMAIL \
    GIT_COMMITTER_DATE=$FIXED_DATE pgit "$@"
}
fixed_commit() {
    GIT_AUTHOR_NAME=$FIXED_NAME GIT_AUTHOR_EMAIL=$FIXED_EMAIL \
    GIT_AUTHOR_DATE=$FIXED_DATE fixed_committer_git commit -q "$@"
}

# make_temp: a fresh temporary directory, removed at exit unless KEEP_TMP=1.
# Only one per script (it owns the EXIT trap).
make_temp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/perf311-$ME.XXXXXX")
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        trap 'say "kept $TMP"' EXIT
    else
        trap 'rm -rf "$TMP"' EXIT
    fi
}

# no_makeflags COMMAND...: run COMMAND without our make's MAKEFLAGS.  They
# would leak variable overrides given to the top-level make (say CFLAGS=...)
# and a jobserver the child cannot use into CPython's make; a build must
# depend on CONFIGURE_FLAGS alone.
no_makeflags() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$@"
}

# executable_files DIR: the files under DIR that have the executable bit,
# sorted (diff -r does not compare modes).
executable_files() {
    (cd "$1" && find . -type f -perm -u+x | LC_ALL=C sort)
}

# fetch_tarball: make sure $TARBALL exists and has the pinned sha256.
fetch_tarball() {
    "$TOOLS/fetch-source.sh" "$TARBALL"
}

# extract_pristine DEST: unpack the tarball's Python-3.11.2/ as DEST.
# --no-same-owner: as root, tar would otherwise restore the release
# manager's uid/gid on every file.
extract_pristine() {
    mkdir -p "$1"
    tar --no-same-owner -xzf "$TARBALL" -C "$1" --strip-components=1 \
        || die "cannot extract $TARBALL into $1"
}

# series_patches REPO: the patch names listed in REPO/patches/series, in
# order (comments after '#' and blank lines dropped).
series_patches() {
    [ -f "$1/patches/series" ] || return 0
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' \
        "$1/patches/series" | grep -v '^$' || true
}

# overlay_files REPO: paths (relative to overlay/) of the overlay files, one
# per line, sorted bytewise.  A missing overlay/ directory means "no new
# files".  Paths may contain spaces (CPython has "Misc/NEWS.d/next/Core and
# Builtins"), not newlines.  Use it as `files=$(overlay_files R) || exit 1`
# so that an error is not swallowed.
overlay_files() {
    local odd
    [ -d "$1/overlay" ] || return 0
    odd=$(cd "$1/overlay" && find . ! -type d ! -type f)
    [ -z "$odd" ] || die "overlay/ may hold regular files only, found: $odd"
    odd=$(cd "$1/overlay" && find . -name '*
*')
    [ -z "$odd" ] || die "overlay/ paths must not contain newlines: $odd"
    (cd "$1/overlay" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
}

# feature_expected REPO: true once the project carries any change at all.
# Until then (empty overlay/ and series) the checks that look for the perf
# feature are skipped; afterwards they are mandatory.
feature_expected() {
    local files
    files=$(overlay_files "$1") || exit 1
    [ -n "$files" ] || [ -n "$(series_patches "$1")" ]
}

# apply_overlay REPO DEST: copy REPO/overlay/* into the tree DEST.
# overlay/ is for files that pristine does not have; changing an existing
# file must go through a patch, so a clash is an error, not an overwrite.
apply_overlay() {
    local files rel
    files=$(overlay_files "$1") || exit 1
    while IFS= read -r rel; do
        [ -n "$rel" ] || continue
        [ ! -e "$2/$rel" ] || die "overlay/$rel also exists in pristine $VERSION; change existing files with a patch"
        mkdir -p "$(dirname "$2/$rel")"
        cp "$1/overlay/$rel" "$2/$rel"   # keeps the executable bit
    done <<<"$files"
}

# apply_patches REPO DEST: apply the series to the tree DEST.  No fuzz: the
# patches were made against exactly this tree, and `git am` in prepare is
# just as strict, so anything that needs fuzz is a broken series.
apply_patches() {
    local names name p
    names=$(series_patches "$1")
    for name in $names; do
        p=$1/patches/$name
        [ -f "$p" ] || die "patches/series lists $name, but patches/$name does not exist"
        say "applying patches/$name"
        patch -d "$2" -p1 --forward --fuzz=0 --no-backup-if-mismatch --quiet -i "$p" \
            || die "patches/$name does not apply cleanly to $2 (see any *.rej files there)"
    done
}

# patched_tree DEST: pristine + overlay + series of this repo, as DEST.
patched_tree() {
    extract_pristine "$1"
    apply_overlay "$REPO" "$1"
    apply_patches "$REPO" "$1"
}

# inputs_hash: a hash of everything that determines the contents of build/:
# the version, CONFIGURE_FLAGS, the overlay files (name, executable bit,
# content), the series and its patches, and the code that does the build
# (tools/build.sh and the functions above, not all of this file: other
# tools' helpers may be added here without forcing a rebuild).
inputs_hash() {
    local files names rel name x
    files=$(overlay_files "$REPO") || exit 1
    names=$(series_patches "$REPO")
    {
        echo "version $VERSION"
        echo "configure-flags ${CONFIGURE_FLAGS:-}"
        while IFS= read -r rel; do
            [ -n "$rel" ] || continue
            x=-; [ ! -x "$REPO/overlay/$rel" ] || x=x
            printf 'overlay %s %s %s\n' "$x" "$(sha256sum <"$REPO/overlay/$rel" | cut -d' ' -f1)" "$rel"
        done <<<"$files"
        for name in $names; do
            [ -f "$REPO/patches/$name" ] || die "patches/series lists $name, but patches/$name does not exist"
            printf 'patch %s %s\n' "$(sha256sum <"$REPO/patches/$name" | cut -d' ' -f1)" "$name"
        done
        declare -f extract_pristine series_patches overlay_files \
            apply_overlay apply_patches patched_tree no_makeflags
        cat "$TOOLS/build.sh"
    } | sha256sum | cut -d' ' -f1
}
