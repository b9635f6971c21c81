#!/usr/bin/env bash
# make install / make altinstall: CPython's own `make install` or
# `make altinstall`, run in the built tree build/.
#
#   tools/install.sh install|altinstall
#
# Environment (set by mk/ecosystem.mk from the make command line):
#   DESTDIR   staging root, prepended to every installed path (packaging);
#             the interpreter can be run from there directly, as Python
#             3.11 finds its library relative to its executable.
#   INSTALL_PREFIX  the installation prefix you expect (PREFIX=DIR on the
#             make command line).  The prefix is compiled
#             into the interpreter, its sysconfig data and scripts, so it
#             is a configure option: mk/ecosystem.mk turns `PREFIX=DIR` on
#             the make command line into CONFIGURE_FLAGS+=--prefix=DIR,
#             which rebuilds build/ for that prefix.  Here we only check
#             that build/ really is configured for it.
#   ENSUREPIP CPython's own switch: `no` skips installing pip.
#
# `install` also creates the unversioned python3, pip3, ... names;
# `altinstall` only python3.11, pip3.11, ... (safe next to a system
# Python).  The last line printed is the installed interpreter's path.
. "$(dirname "$0")/lib.sh"

target=${1:-install}
case $target in
    install|altinstall) ;;
    *) die "usage: $0 install|altinstall" ;;
esac

BUILD=$REPO/build
[ -x "$BUILD/python" ] && [ -f "$BUILD/Makefile" ] || die "build/ is not built: run make"

configured=$(sed -n 's/^prefix=[[:space:]]*//p' "$BUILD/Makefile" | head -n 1)
[ -n "$configured" ] || die "cannot read the configured prefix from build/Makefile"
if [ -n "${INSTALL_PREFIX:-}" ]; then
    want=$(realpath -m "$INSTALL_PREFIX")
    if [ "$want" != "$configured" ]; then
        die "build/ is configured for prefix $configured, not $want: run" \
            "make $target PREFIX=$want (on the make command line: it reconfigures" \
            "and rebuilds build/), or add --prefix=$want to CONFIGURE_FLAGS"
    fi
fi

destdir=${DESTDIR:-}
if [ -n "$destdir" ]; then
    mkdir -p "$destdir"
    destdir=$(cd "$destdir" && pwd)
fi
say "make $target in build/ (prefix $configured${destdir:+, DESTDIR $destdir})"
extra=()
[ -z "${ENSUREPIP:-}" ] || extra+=("ENSUREPIP=$ENSUREPIP")
(cd "$BUILD" && no_makeflags make "$target" DESTDIR="$destdir" "${extra[@]}") \
    || die "make $target failed"

py=$destdir$configured/bin/python${VERSION%.*}
[ -x "$py" ] || die "no interpreter at $py after make $target"
# The installed interpreter, run from where it was installed, has the
# feature: the trampoline activates and the map gets its lines.
"$py" -c '
import os, sys
def installed_probe(): pass
sys.activate_stack_trampoline("perf")
installed_probe()
sys.deactivate_stack_trampoline()
path = "/tmp/perf-%d.map" % os.getpid()
ok = any("py::installed_probe:" in line for line in open(path))
os.unlink(path)
sys.exit(0 if ok else 1)
' || die "the installed $py has no working perf support"
say "installed $py ($("$py" -c 'import sys; print(sys.prefix)')), perf support works"
echo "$py"
