#!/usr/bin/env bash
# The aarch64 build under qemu (make check-aarch64, see tools/check-aarch64.sh):
# cross-builds build-aarch64/ and runs the feature checks and a few CPython
# tests with BTI and PAC enforced.  Skipped (77) only when the cross
# compiler or qemu is missing and cannot be installed (not root); as root,
# check-aarch64 installs them.
cd "${REPO:-$(dirname "$0")/..}" || exit 1
missing=
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing="$missing $p"
done
if [ -n "$missing" ] && [ "$(id -u)" != 0 ]; then
    echo "test_aarch64: SKIP: missing Debian packages:$missing (install them as root, or run make deps)"
    exit 77
fi
start=$SECONDS
if make --no-print-directory check-aarch64; then
    echo "test_aarch64: make check-aarch64 passed in $((SECONDS - start))s"
    exit 0
fi
echo "test_aarch64: make check-aarch64 FAILED after $((SECONDS - start))s"
exit 1
