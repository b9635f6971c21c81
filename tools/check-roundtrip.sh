#!/usr/bin/env bash
# make check-roundtrip: prepare + export, in a temporary directory, from the
# overlay/ and patches/ committed at HEAD, must reproduce them exactly
# (content and executable bits).  Fails with the difference otherwise.
#
# It checks HEAD, not the work tree: a file you forgot to `git add` must fail
# here as it would in CI.  Uncommitted changes get a warning.
. "$(dirname "$0")/lib.sh"

cd "$REPO"
git rev-parse -q --verify HEAD >/dev/null || die "this repository has no commit yet"
if [ -n "$(git status --porcelain -- overlay patches)" ]; then
    say "warning: overlay/ or patches/ have uncommitted changes; checking HEAD only"
fi

make_temp
fetch_tarball
mkdir "$TMP/committed"
paths=$(git ls-tree --name-only HEAD -- overlay patches)
if [ -n "$paths" ]; then
    # shellcheck disable=SC2086
    git archive HEAD -- $paths | tar -x -C "$TMP/committed"
fi
cp -a "$TMP/committed" "$TMP/repo"

"$TOOLS/prepare.sh" "$TMP/repo" "$TMP/src"
"$TOOLS/export.sh" "$TMP/src" "$TMP/repo"

fail=0
if ! diff -ruN "$TMP/committed" "$TMP/repo" >"$TMP/diff"; then
    fail=1
    say "prepare + export changes the committed files:"
    sed "s|$TMP/||g" "$TMP/diff"
fi
if [ "$(executable_files "$TMP/committed")" != "$(executable_files "$TMP/repo")" ]; then
    fail=1
    say "executable files differ: committed vs. exported:"
    diff <(executable_files "$TMP/committed") <(executable_files "$TMP/repo") || true
fi
[ "$fail" = 0 ] || die "round trip is not stable: run make prepare && make export, review and commit the result"
say "ok: prepare + export reproduces overlay/ and patches/ at HEAD"
