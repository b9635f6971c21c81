#!/usr/bin/env bash
# make check-patch: the combined patch (make patch) must turn a fresh,
# pristine Python-3.11.2 into a working perf-enabled interpreter the way
# pyenv and distributors use it: `patch -p1`, then plain
# `./configure && make`, with no autoconf, clinic or network involved.
#
# Usage: tools/check-patch.sh [PATCH]   (default: a fresh tools/make-patch.sh)
#
# "No regeneration" is checked, not assumed: every file of the patched tree
# is checksummed before the build, and the build must not change any of
# them.  (3.11.2's Makefile.pre.in has no rule that reruns autoconf; its
# only configure-related rule reruns ./configure when configure is newer
# than config.status, which cannot happen after a fresh ./configure.  So
# no timestamp fix-up is needed after patching.)
#
# The patched tree must also equal pristine + overlay/ + patches/series, the
# tree make all builds.
#
# The perf checks run once the project carries any change (tools/lib.sh:
# feature_expected); with empty overlay/ and series only the build is checked.
. "$(dirname "$0")/lib.sh"

JOBS=${JOBS:-$(nproc)}
make_temp
fetch_tarball
if [ $# -gt 0 ]; then
    patchfile=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
    patchfile=$("$TOOLS/make-patch.sh" "$TMP/perf-support-$VERSION.patch" | tail -n 1)
fi
[ -f "$patchfile" ] || die "no such patch file: $patchfile"

tree=$TMP/Python-$VERSION
extract_pristine "$tree"
cd "$tree"
if grep -q '^diff --git ' "$patchfile"; then
    say "applying $patchfile"
    patch -p1 --forward <"$patchfile" >"$TMP/patch.log" || { cat "$TMP/patch.log"; die "the patch does not apply to pristine $VERSION"; }
else
    # patch(1) rejects a file without any diff ("only garbage").
    say "$patchfile changes nothing (empty overlay/ and series): building pristine"
fi
leftovers=$(find . -name '*.rej' -o -name '*.orig')
[ -z "$leftovers" ] || die "patch left reject/backup files: $leftovers"

# The result must be exactly what make all builds from: pristine + overlay/
# + series (contents and executable bits).
patched_tree "$TMP/reference"
diff -r "$TMP/reference" "$tree" >"$TMP/tree.diff" \
    || { head -n 40 "$TMP/tree.diff"; die "the patched tree differs from pristine + overlay/ + patches/series"; }
[ "$(executable_files "$TMP/reference")" = "$(executable_files "$tree")" ] \
    || die "executable bits differ from pristine + overlay/ + patches/series"
rm -rf "$TMP/reference"

find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >"$TMP/before.sha256"

say "./configure (log: configure.log)"
no_makeflags ./configure >"$TMP/configure.log" 2>&1 \
    || { tail -n 40 "$TMP/configure.log"; die "./configure failed"; }
say "make -j$JOBS (log: make.log)"
no_makeflags make -j"$JOBS" >"$TMP/make.log" 2>&1 \
    || { tail -n 60 "$TMP/make.log"; die "make failed"; }

changed=$(sha256sum --check --quiet "$TMP/before.sha256" 2>/dev/null || true)
[ -z "$changed" ] || die "the build modified source files (something was regenerated): $changed"

fail=0
check() {  # check DESCRIPTION COMMAND...: run a check, report, count failures
    if "${@:2}"; then say "ok: $1"; else say "FAILED: $1"; fail=1; fi
}
check "python runs and is $VERSION" \
    ./python -c "import sys; assert sys.version.startswith('$VERSION'), sys.version"

if feature_expected "$REPO"; then
    case $(uname -m) in
        x86_64|aarch64) supported=yes ;;
        *) supported=no ;;
    esac
    check "configure printed 'checking perf trampoline... $supported'" \
        grep -q "^checking perf trampoline\.\.\. $supported\$" "$TMP/configure.log"
    check "sys.is_stack_trampoline_active() is False by default" \
        ./python -c 'import sys; assert sys.is_stack_trampoline_active() is False'
    ./python -m sysconfig >"$TMP/sysconfig.txt"
    if [ "$supported" = yes ]; then
        check 'sysconfig has PY_HAVE_PERF_TRAMPOLINE = "1"' \
            grep -q '^[[:space:]]*PY_HAVE_PERF_TRAMPOLINE = "1"$' "$TMP/sysconfig.txt"
        check "sysconfig flags have -fno-omit-frame-pointer" \
            grep -q -- '-fno-omit-frame-pointer' "$TMP/sysconfig.txt"
        # -X perf writes /tmp/perf-<pid>.map: note the pid to remove it.
        out=$(./python -X perf -c 'import os, sys; print(sys.is_stack_trampoline_active(), os.getpid())') || out=
        rm -f "/tmp/perf-${out#* }.map"
        check "python -X perf activates the trampoline" [ "${out% *}" = True ]
    fi
else
    say "overlay/ and patches/series are empty: only the plain build is checked"
fi
[ "$fail" = 0 ] || die "the combined patch does not give a working perf-enabled build"
say "ok: $patchfile applies with patch -p1 and builds with ./configure && make"
