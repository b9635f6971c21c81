#!/usr/bin/env bash
# make export: write the work tree's committed state back into the repo:
#
#   overlay/ := every file in HEAD that is not in tag pristine (byte copy,
#               executable bit kept)
#   patches/ := git format-patch of overlay..HEAD, without those files,
#               one NNNN-slug.patch per commit; series rewritten in that
#               order; patch files no longer produced are removed
#
# Usage: tools/export.sh [SRC [REPO]]   (defaults: REPO/src, this repo)
#
# Only commits count: uncommitted changes to tracked files are refused
# rather than silently left out.  git's user/system configuration is ignored
# and the index lines are written in full, so the output depends on the
# commits alone (see check-roundtrip).
. "$(dirname "$0")/lib.sh"

src=${1:-$REPO/src}
repo=$(cd "${2:-$REPO}" && pwd)

[ -d "$src/.git" ] || die "$src is not a prepared work tree (run make prepare)"
cd "$src"
for tag in pristine overlay; do
    pgit rev-parse -q --verify "refs/tags/$tag^{commit}" >/dev/null \
        || die "$src has no tag $tag (was it made by make prepare?)"
done
if [ -d .git/rebase-apply ] || [ -d .git/rebase-merge ]; then
    die "a git am or rebase is in progress in $src; finish or abort it first"
fi
pgit update-index -q --refresh >/dev/null || true
pgit diff-index --quiet HEAD -- \
    || die "$src has uncommitted changes to tracked files; commit them (export takes HEAD)"

mkdir -p "$repo/patches"
stage=$(mktemp -d "$repo/patches/.export.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/overlay" "$stage/patches"

# New files -> overlay/, and the pathspec that keeps them out of the patches.
excludes=()
added=0
while IFS= read -r -d '' path; do
    mode=$(pgit ls-tree HEAD -- "$path" | cut -d' ' -f1)
    case $mode in
        100644|100755) ;;
        *) die "$path has git mode $mode; overlay/ holds regular files only" ;;
    esac
    mkdir -p "$stage/overlay/$(dirname "$path")"
    pgit cat-file blob "HEAD:$path" >"$stage/overlay/$path"
    [ "$mode" = 100644 ] || chmod +x "$stage/overlay/$path"
    excludes+=(":(exclude,literal)$path")
    added=$((added + 1))
done < <(pgit diff -z --name-only --no-renames --diff-filter=A pristine HEAD)

# --zero-commit/--no-signature: no commit hashes or git version in the
# output; --no-numbered: adding a patch must not rewrite every other
# patch's Subject line; --full-index: abbreviated hashes get longer as a
# repository grows, so their length would depend on the work tree's history.
# Commits that touch only overlay files produce no patch.
pgit format-patch -q --zero-commit --no-signature --no-numbered --no-renames \
    --full-index -o "$stage/patches" overlay..HEAD -- . "${excludes[@]}"

# Install: overlay/ is replaced whole; a missing overlay/ means no new files.
rm -rf "$repo/overlay"
if [ "$added" -gt 0 ]; then
    mv "$stage/overlay" "$repo/overlay"
fi
rm -f "$repo"/patches/*.patch
{
    echo "# Applied in this order on top of pristine CPython $VERSION plus overlay/."
    echo "# Written by make export (tools/export.sh); see README.md, \"Developer round trip\"."
    (cd "$stage/patches" && LC_ALL=C ls)
} >"$stage/series"
npatches=0
for p in "$stage"/patches/*.patch; do
    [ -e "$p" ] || continue
    mv "$p" "$repo/patches/"
    npatches=$((npatches + 1))
done
mv "$stage/series" "$repo/patches/series"
say "exported $added overlay file(s) and $npatches patch(es) to $repo"
