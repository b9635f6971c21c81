#!/usr/bin/env bash
# make prepare: create the developer work tree (a git repository) from
# pristine 3.11.2, overlay/ and patches/:
#
#   commit "Python 3.11.2"  tag pristine   the tarball, byte for byte
#   commit "overlay"        tag overlay    every file under overlay/
#   one commit per patch in patches/series, by `git am`
#
# Usage: tools/prepare.sh [REPO [SRC]]   (defaults: this repo, REPO/src)
#
# The tools' commits use a fixed identity and date and git's user/system
# configuration is ignored (see tools/lib.sh), so two prepares of the same
# files give the same commits; `git am` keeps each patch's own author and
# author date, which is what format-patch writes back on export.
. "$(dirname "$0")/lib.sh"

repo=$(cd "${1:-$REPO}" && pwd)
src=${2:-$repo/src}

[ ! -e "$src" ] || die "$src already exists. Export your work first (make export), then remove it to prepare afresh."

fetch_tarball
say "extracting pristine $VERSION into $src"
extract_pristine "$src"
src=$(cd "$src" && pwd)
trap 'st=$?; [ "$st" = 0 ] || say "failed; $src is left as it is for inspection: remove it before preparing again"' EXIT

cd "$src"
pgit init -q -b perf
# -f: the tarball has a .gitignore of its own (Tools/peg_generator) whose
# files must be committed too.
pgit add -A -f
fixed_commit -m "Python $VERSION"
pgit tag pristine

apply_overlay "$repo" "$src"
pgit add -A -f
fixed_commit --allow-empty -m "overlay"
pgit tag overlay

names=$(series_patches "$repo")
for name in $names; do
    [ -f "$repo/patches/$name" ] || die "patches/series lists $name, but patches/$name does not exist"
    # --keep-cr: a patch to a CRLF file (PC/*.bat) must keep its CRs.
    fixed_committer_git am -q --keep-cr "$repo/patches/$name" \
        || die "git am of patches/$name failed; $src is left mid-am (git am --show-current-patch)"
done

# Keep build artefacts out of `git add -A` for developers who build in src/
# (export turns every added file into an overlay file).
cat >>.git/info/exclude <<'EXCLUDE'
# added by tools/prepare.sh: files an in-tree build creates
*.o
*.a
*.so
*.so.*
*.pyc
__pycache__/
/build/
/python
/Makefile
/Makefile.pre
/Misc/python.pc
/Misc/python-config.sh
/Misc/python-embed.pc
/Modules/Setup.bootstrap
/Modules/Setup.local
/Modules/Setup.stdlib
/Modules/config.c
/Modules/ld_so_aix
/Programs/_bootstrap_python
/Programs/_freeze_module
/Programs/_testembed
/Python/deepfreeze/*.c
/Python/frozen_modules/*.h
/config.log
/config.status
/libpython*.a
/platform
/pybuilddir.txt
/pyconfig.h
/python-config
/python-config.py
/python-gdb.py
EXCLUDE

count=$(pgit rev-list --count overlay..HEAD)
say "prepared $src: $(pgit ls-files | wc -l) files, $count patch commit(s) on top of tag overlay"
say "work there with git; commit, then run: make export"
