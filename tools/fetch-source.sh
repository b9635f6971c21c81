#!/bin/sh
# Obtain the pristine CPython 3.11.2 source tarball and verify its sha256.
#
# Usage: tools/fetch-source.sh DEST_TARBALL
#
# Origins, tried in this order:
#   1. $CPYTHON_TARBALL, a tarball the user names;
#   2. DEST_TARBALL itself, if a previous run cached it (the cache directory
#      is ignored by git);
#   3. Debian's source archive: the orig tarball of the python3.11 source
#      package, fetched with apt-get through a temporary deb-src list derived
#      from this machine's own deb entries (the system's apt configuration is
#      not modified);
#   4. the upstream download location.
# Whatever the origin, the sha256 must match; a mismatch is a hard error
# that names both hashes.
set -eu

SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
VERSION=3.11.2
UPSTREAM_URL="https://www.python.org/ftp/python/$VERSION/Python-$VERSION.tgz"
DEBIAN_PIN="python3.11=3.11.2-6+deb12u8"

dest=${1:?usage: fetch-source.sh DEST_TARBALL}
mkdir -p "$(dirname "$dest")"

say() { printf 'fetch-source: %s\n' "$*" >&2; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# verify FILE ORIGIN: succeed if FILE has the pinned hash; on a mismatch
# fail loudly naming both hashes (never fall through to another origin
# silently: a wrong tarball is an error, not a cache miss).
verify() {
    got=$(sha_of "$1")
    if [ "$got" != "$SHA256" ]; then
        say "sha256 mismatch for $1 (from $2)"
        say "  expected: $SHA256"
        say "  got:      $got"
        exit 1
    fi
}

install_tarball() {
    verify "$1" "$2"
    if [ "$1" != "$dest" ]; then
        cp "$1" "$dest.tmp.$$"
        mv "$dest.tmp.$$" "$dest"
    fi
    say "using $2 ($SHA256)"
    exit 0
}

# 1. user-supplied tarball
if [ -n "${CPYTHON_TARBALL:-}" ]; then
    [ -f "$CPYTHON_TARBALL" ] || { say "CPYTHON_TARBALL=$CPYTHON_TARBALL: no such file"; exit 1; }
    install_tarball "$CPYTHON_TARBALL" "CPYTHON_TARBALL"
fi

# 2. cache
if [ -f "$dest" ]; then
    install_tarball "$dest" "cache"
fi

# 3. Debian source archive
debian_fetch() {
    command -v apt-get >/dev/null 2>&1 || return 1
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/parts" "$work/dl"
    # Derive deb-src entries from the machine's deb entries: one-line
    # format in sources.list and *.list, deb822 stanzas in *.sources.
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f"
        done
    } >"$work/sources.list"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Keep only stanzas of type deb and rewrite their type.
        awk 'BEGIN { RS=""; ORS="\n\n" }
             /(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ {
                 gsub(/Types:[^\n]*/, "Types: deb-src"); print }' \
            "$f" >"$work/parts/$(basename "$f")"
    done
    opts="-o Dir::Etc::SourceList=$work/sources.list
          -o Dir::Etc::SourceParts=$work/parts
          -o Dir::State::Lists=$work/lists
          -o Debug::NoLocking=1"
    say "trying Debian's source archive"
    # shellcheck disable=SC2086
    apt-get $opts -qq update >&2 || true
    # The newest revision's .dsc can be missing while the orig tarball is
    # there: judge by the tarball, not by apt's exit status.
    # shellcheck disable=SC2086
    (cd "$work/dl" && apt-get $opts -qq source --download-only "$DEBIAN_PIN" >&2) || \
    (cd "$work/dl" && apt-get $opts -qq source --download-only python3.11 >&2) || true
    orig="$work/dl/python3.11_$VERSION.orig.tar.gz"
    [ -f "$orig" ] || return 1
    verify "$orig" "Debian source archive"
    cp "$orig" "$dest.tmp.$$"
    mv "$dest.tmp.$$" "$dest"
    say "using Debian source archive ($SHA256)"
    return 0
}
if debian_fetch; then
    exit 0
fi

# 4. upstream
say "trying upstream: $UPSTREAM_URL"
tmp="$dest.download.$$"
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$tmp" "$UPSTREAM_URL" || { rm -f "$tmp"; say "download failed"; exit 1; }
elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$tmp" "$UPSTREAM_URL" || { rm -f "$tmp"; say "download failed"; exit 1; }
else
    say "no origin worked and neither curl nor wget is installed"
    exit 1
fi
verify "$tmp" "upstream"
mv "$tmp" "$dest"
say "using upstream ($SHA256)"
