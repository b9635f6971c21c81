#!/usr/bin/env bash
# make check-configure: configure and pyconfig.h.in in the patched tree must
# be what Debian's autoconf 2.69 generates from the patched configure.ac.
#
# 3.11.2 ships aclocal.m4 (aclocal 1.16.3, with the autoconf-archive and
# pkg.m4 macros it uses), so `autoconf2.69 && autoheader2.69` is the whole
# regeneration; aclocal is not rerun.
#
# Upstream's autoconf 2.69 carried a --runstatedir patch that Debian's does
# not: regenerating even the pristine tree drops a 14-line runstatedir block
# from configure.  So the patched configure is accepted when it equals the
# regenerated one exactly (the patch series regenerated it with
# autoconf2.69), or when the two differ by exactly the lines by which the
# pristine configure differs from its own regeneration (the series kept the
# runstatedir block).  Anything else fails with the diff.
. "$(dirname "$0")/lib.sh"

for tool in autoconf2.69 autoheader2.69; do
    command -v "$tool" >/dev/null || die "$tool not found: run make deps (packages autoconf2.69 autoconf-archive)"
done

# regen DIR: regenerate DIR/configure and DIR/pyconfig.h.in in place.
regen() {
    (cd "$1" && autoconf2.69 && autoheader2.69 && rm -rf autom4te.cache) \
        || die "autoconf2.69/autoheader2.69 failed in $1"
}
# changed_lines OLD NEW: the removed/added lines, without positions.
changed_lines() { diff "$1" "$2" | grep '^[<>]' || true; }

make_temp
fetch_tarball
extract_pristine "$TMP/pristine"
patched_tree "$TMP/patched"
for t in pristine patched; do
    cp "$TMP/$t/configure" "$TMP/$t.configure"
    cp "$TMP/$t/pyconfig.h.in" "$TMP/$t.pyconfig.h.in"
    regen "$TMP/$t"
done

baseline=$(changed_lines "$TMP/pristine.configure" "$TMP/pristine/configure")
fail=0
if cmp -s "$TMP/patched.configure" "$TMP/patched/configure"; then
    say "configure: identical to its autoconf2.69 regeneration"
    if [ -n "$baseline" ] && ! grep -q -- '--runstatedir' "$TMP/patched.configure"; then
        # Not an error (both forms are accepted), but a change of behaviour:
        # debhelper, for one, passes --runstatedir=/run to every configure.
        say "warning: the patched configure lost pristine's --runstatedir option;"
        say "warning: ./configure --runstatedir=/run now fails with 'unrecognized option'"
    fi
elif [ "$(changed_lines "$TMP/patched.configure" "$TMP/patched/configure")" = "$baseline" ]; then
    say "configure: differs from its regeneration only by pristine's runstatedir block"
else
    fail=1
    say "configure is not what autoconf2.69 makes of configure.ac (- committed, + regenerated):"
    diff -u --label configure --label configure.regenerated \
        "$TMP/patched.configure" "$TMP/patched/configure" || true
fi
if cmp -s "$TMP/patched.pyconfig.h.in" "$TMP/patched/pyconfig.h.in"; then
    say "pyconfig.h.in: identical to its autoheader2.69 regeneration"
else
    fail=1
    say "pyconfig.h.in is not what autoheader2.69 makes of configure.ac (- committed, + regenerated):"
    diff -u --label pyconfig.h.in --label pyconfig.h.in.regenerated \
        "$TMP/patched.pyconfig.h.in" "$TMP/patched/pyconfig.h.in" || true
fi
[ "$fail" = 0 ] || die "regenerate with autoconf2.69 && autoheader2.69 in src/, commit, make export"
say "ok"
