#!/usr/bin/env bash
# pyenv consumes the combined patch: `pyenv install --patch 3.11.2 < PATCH`
# builds and installs a working interpreter with the perf support and frame
# pointers.  The commands are the ones docs/pyenv.md gives, run for real:
#
# * the install goes into a temporary PYENV_ROOT (pyenv still finds its
#   python-build plugin next to its own executable), so the machine's
#   ~/.pyenv/versions are not touched;
# * no network: the verified tarball from cache/ is offered to python-build
#   through PYTHON_BUILD_CACHE_PATH under the name python-build looks for
#   (Python-3.11.2.tar.gz, sha256-checked by python-build against its own
#   definition), the mirror is skipped, and proxies point at a closed port
#   so that any download attempt fails instead of silently succeeding.
#
# Skips (exit 77) only if pyenv is not installed.  About 4 minutes on
# 2 cores (python-build runs configure, make -j$JOBS and make install).
set -eu -o pipefail

REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
VERSION=3.11.2
say() { printf 'test_pyenv: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

pyenv=${PYENV:-}
if [ -z "$pyenv" ]; then
    pyenv=$(command -v pyenv || true)
fi
if [ -z "$pyenv" ]; then
    for cand in "${PYENV_ROOT:-}/bin/pyenv" "$HOME/.pyenv/bin/pyenv"; do
        if [ -x "$cand" ]; then pyenv=$cand; break; fi
    done
fi
if [ -z "$pyenv" ]; then
    say "SKIP: pyenv is not installed (not on PATH, no \$PYENV_ROOT/bin/pyenv or ~/.pyenv/bin/pyenv)"
    exit 77
fi
say "using $pyenv ($("$pyenv" --version))"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_pyenv.XXXXXX")
cleanup() {
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

# 1. The combined patch (written into TMP so that a parallel `make patch`
#    in the repository cannot race with this test).
patch=$(env -u KEEP_TMP -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$REPO" patch PATCH_FILE="$TMP/perf-support-$VERSION.patch" | tail -n 1)
[ -s "$patch" ] || fail "make patch did not print the path of a non-empty patch (got '$patch')"
say "patch: $patch ($(grep -c '^diff --git ' "$patch") file diffs)"

# 2. The verified tarball, under the name python-build expects.
"$REPO/tools/fetch-source.sh" "$REPO/cache/Python-$VERSION.tgz" >/dev/null
root=$TMP/pyenv-root
mkdir -p "$root/cache" "$TMP/build-tmp"
ln -s "$REPO/cache/Python-$VERSION.tgz" "$root/cache/Python-$VERSION.tar.gz"

# 3. pyenv install --patch, offline.
log=$TMP/pyenv-install.log
say "pyenv install --patch $VERSION (log: $log)"
start=$SECONDS
# MAKEFLAGS & co: a make running this test (make test) must not pass its
# flags or command-line variables on to python-build's make.
if ! env -u PYENV_VERSION -u PYTHON_CONFIGURE_OPTS -u CONFIGURE_OPTS \
        -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        -u PYTHON_CFLAGS -u CFLAGS -u CPPFLAGS -u LDFLAGS -u MAKEOPTS \
        PYENV_ROOT="$root" \
        PYTHON_BUILD_CACHE_PATH="$root/cache" \
        PYTHON_BUILD_SKIP_MIRROR=1 \
        _PYTHON_BUILD_FORCE_SKIP_XZ=1 \
        MAKE_OPTS="-j${JOBS:-2}" \
        TMPDIR="$TMP/build-tmp" \
        http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
        HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
        "$pyenv" install --verbose --patch "$VERSION" <"$patch" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "pyenv install --patch $VERSION failed"
fi
say "installed in $((SECONDS - start)) s"
if grep -q '^Downloading ' "$log"; then fail "python-build did not reuse the cached tarball"; fi
grep -q "patching file Python/perf_trampoline.c\|patching file 'Python/perf_trampoline.c'" "$log" \
    || fail "the log does not show the patch being applied"

prefix=$root/versions/$VERSION
py=$prefix/bin/python3.11
[ -x "$py" ] || fail "$py does not exist"

# 4. The installed interpreter: pyenv's own shim/exec path finds it, the
#    feature works from the install location, and frame pointers are on.
out=$(PYENV_ROOT="$root" PYENV_VERSION=$VERSION "$pyenv" exec python -c \
      'import sys; print(sys.executable)')
[ "$out" = "$prefix/bin/python" ] || [ "$out" = "$py" ] \
    || fail "pyenv exec python runs '$out', not the installed $VERSION"

cat >"$TMP/probe.py" <<'EOF'
import os, sys, sysconfig

def pyenv_probe_function():
    return sum(range(10))

assert sys.version_info[:3] == (3, 11, 2), sys.version
sys.activate_stack_trampoline("perf")
assert sys.is_stack_trampoline_active()
pyenv_probe_function()
sys.deactivate_stack_trampoline()          # writes out the map
path = "/tmp/perf-%d.map" % os.getpid()
with open(path) as f:
    lines = [l for l in f if "py::pyenv_probe_function:" in l]
os.unlink(path)
assert len(lines) == 1, lines
for var in ("PY_CFLAGS_NODIST", "CONFIGURE_CFLAGS_NODIST"):
    val = sysconfig.get_config_var(var) or ""
    if "-fno-omit-frame-pointer" in val:
        print("frame pointers:", var, "=", val)
        break
else:
    raise SystemExit("no -fno-omit-frame-pointer in PY_CFLAGS_NODIST")
assert sysconfig.get_config_var("PY_HAVE_PERF_TRAMPOLINE") == 1
print("map line:", lines[0].strip())
print("prefix:", sys.prefix)
EOF
(cd "$TMP" && "$py" probe.py) || fail "the installed interpreter lacks the feature"

# -X perf from startup, in a child process, from the install location.
pid=$(cd "$TMP" && "$py" -X perf -c '
import os, sys
def f(): pass
f()
assert sys.is_stack_trampoline_active()
print(os.getpid())
') || fail "-X perf does not work in the installed interpreter"
grep -q 'py::f:<string>' "/tmp/perf-$pid.map" || fail "-X perf wrote no map line for f"
rm -f "/tmp/perf-$pid.map"
say "PASS: pyenv install --patch $VERSION gives an interpreter with the perf support and frame pointers"
