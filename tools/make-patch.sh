#!/usr/bin/env bash
# make patch: write the whole change set as ONE patch file, for consumers
# that start from an unpacked Python-3.11.2 (e.g. `pyenv install --patch`):
#
#   cd Python-3.11.2 && patch -p1 < perf-support-3.11.2.patch
#   ./configure && make
#
# It is the diff from a fresh pristine extraction to pristine + overlay/ +
# patches/series, so it carries the generated files the series carries
# (configure, pyconfig.h.in, clinic output) and no build artefact.  Git's
# diff format is used because it keeps executable bits; GNU patch reads it.
# The output depends on overlay/ and patches/ only (no dates, no commit ids).
#
# Usage: tools/make-patch.sh [OUT]   (default dist/perf-support-3.11.2.patch)
# The last line printed is the absolute path of the patch.
. "$(dirname "$0")/lib.sh"

out=${1:-$REPO/dist/perf-support-$VERSION.patch}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

make_temp
fetch_tarball
tree=$TMP/Python-$VERSION
extract_pristine "$tree"
cd "$tree"
pgit init -q -b perf
pgit add -A -f
fixed_commit -m "Python $VERSION"
apply_overlay "$REPO" "$tree"
apply_patches "$REPO" "$tree"
pgit add -A -f

# GNU patch cannot apply git's binary diffs; refuse instead of shipping one.
binary=$(pgit diff --cached --numstat | awk -F'\t' '$1 == "-" { print $3 }')
[ -z "$binary" ] || die "binary files changed, which patch -p1 cannot apply: $binary"
artefacts=$(pgit diff --cached --name-only | grep -E '\.(o|a|so|pyc)$|(^|/)__pycache__/' || true)
[ -z "$artefacts" ] || die "build artefacts in overlay/ or patches/: $artefacts"

names=$(series_patches "$REPO")
files=$(overlay_files "$REPO") || exit 1
{
    echo "perf support for CPython $VERSION: Python functions in Linux perf profiles."
    echo
    echo "Apply in an unpacked, pristine Python-$VERSION directory:"
    echo "    patch -p1 < perf-support-$VERSION.patch && ./configure && make"
    echo "(no autoconf, Argument Clinic or network access is needed)."
    echo
    echo "New files: $(printf '%s\n' "$files" | grep -c . || true)"
    echo "Patches folded in, in order:"
    for name in $names; do echo "    $name"; done
    echo
    pgit diff --cached --no-renames --stat=72 --summary HEAD
    echo
    pgit diff --cached --no-renames --full-index HEAD
} >"$out.tmp"
mv "$out.tmp" "$out"
ndiffs=$(grep -c '^diff --git ' "$out" || true)
if [ "$ndiffs" = 0 ]; then
    say "warning: overlay/ and series are empty, so the patch changes nothing (and patch -p1 refuses it)"
else
    say "wrote $ndiffs file diff(s)"
fi
echo "$out"
