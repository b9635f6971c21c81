#!/usr/bin/env bash
# make check-aarch64: cross-build the patched tree for aarch64-linux-gnu and
# run it under qemu-aarch64 with a CPU that enforces BTI and PAC.
#
#   tools/check-aarch64.sh                   build (if needed) and check
#   tools/check-aarch64.sh --break-stub=MODE the same with a deliberately
#                                            broken stub: the checks must FAIL
#
# Steps (each prints "check-aarch64: ..." lines, a phase ends with PASS or
# FAIL and its time):
#   1. Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and
#      qemu-user, installed (as root, apt-get) only when missing.
#   2. build-aarch64/ := pristine + overlay/ + patches/ (tools/lib.sh),
#      configured with --host=aarch64-linux-gnu, the native build/python as
#      build Python and -mbranch-protection=standard, and built without the
#      extension modules the checks do not need (SKIP_MODULES).  A stamp
#      skips the build when the inputs did not change.
#   3. Static checks: the stub and the C objects carry the GNU property note
#      (BTI, PAC), the stub starts with `bti c`, no executable stack.
#   4. Control experiment (tests/aarch64/bti_probe.c): a copy of the stub on
#      a PROT_BTI page runs and builds a correct frame record; without
#      `bti c` it dies with SIGILL, without `paciasp` (autiasp then fails)
#      it crashes -- proof that this qemu enforces BTI and PAC.
#   5. tests/aarch64/feature_checks.py under qemu: sys API, -X perf map
#      contents and names, fork, deep recursion, generators, threads,
#      frame-pointer walks through the trampolines (tests/aarch64/fpwalk.c),
#      -X perf_jit dumps, checked on the host (tests/aarch64/check_dumps.py
#      with tools/jitdump_check.py: elf_mach 183, eh_frame decoded, CFA
#      rules of the aarch64 stub).
#   6. CPython tests under qemu, AARCH64_PYTESTS (regrtest -j$JOBS).
#
# --break-stub=MODE rewrites the aarch64 stub of Python/asm_trampoline.S in
# build-aarch64/ (same size: the C side checks it), relinks python and runs
# steps 3-5, which must fail; the committed stub is restored and python
# relinked on exit.  Modes:
#   bti     `bti c` -> `nop`: SIGILL at the first trampoline call
#   x29     `ldp x29, x30` -> `ldp x9, x30`: x29 not restored
#   link    the frame record is saved but not linked (x29 is never set to
#           it): frame-pointer unwinding skips the C function that called
#           the trampoline.  With the 512-byte reserve, `mov x29, sp` ->
#           `nop` alone tests nothing of that: `mov sp, x29` then pops the
#           caller's frame record instead of the stub's, and the first
#           trampolined call to return crashes; besides, the evaluator finds
#           the reserve through the link (512 bytes below the caller's x29
#           without it) and would write its first frame record where the
#           stub saved x30.  So the stub is rearranged, reserve first and
#           record below it, x29 left alone (`sub sp, sp, #512; stp x29,
#           x30, [sp, #-16]!; nop; blr x3; ldp x29, x30, [sp], #16; add sp,
#           sp, #512`): it runs, and the walks lack the callers (more nested
#           Python frames in a row than one reserve holds)
#   pac     `paciasp` -> `nop`: autiasp fails on an unsigned x30
#
# Exit status: 0 passed (with --break-stub: the feature checks failed, as
# they must), 1 failed, 77 the packages are missing and cannot be installed.
. "$(dirname "$0")/lib.sh"

HOST=aarch64-linux-gnu
BUILD_TRIPLET=x86_64-linux-gnu
CROSS=${CROSS_BUILD_DIR:-$REPO/build-aarch64}
# The build Python (same version, runs on the build machine): the native
# build of this tree.
NATIVE_PYTHON=${AARCH64_BUILD_PYTHON:-$REPO/build/python}
JOBS=${JOBS:-$(nproc)}
QEMU=qemu-aarch64
# -cpu max: every feature, BTI and PAC included.  pauth-impdef=on keeps
# pointer authentication (and its failures) but computes the codes with
# qemu's cheap IMPDEF function instead of the architected QARMA cipher:
# with -mbranch-protection=standard every call signs and authenticates,
# and QARMA makes an interpreter start take 5 times longer (1.9 s instead
# of 0.4 s of CPU here).
QEMU_CPU=${AARCH64_QEMU_CPU:-max,pauth-impdef=on}
SYSROOT=/usr/$HOST
PACKAGES="gcc-$HOST libc6-dev-arm64-cross qemu-user"
# -mbranch-protection=standard: bti c landing pads and pac-ret in every
# function, and the GNU property note on every object, like the stub.
CROSS_CFLAGS="-mbranch-protection=standard"
# Extension modules the checks do not need; py_cv_module_NAME=n/a makes
# configure and setup.py leave them out (the largest ones, and those whose
# libraries are not installed for aarch64 anyway).
SKIP_MODULES="_decimal _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp
_codecs_kr _codecs_tw _multibytecodec _elementtree pyexpat _sha3 _blake2
_testbuffer _testmultiphase _testimportmultiple _testclinic _xxtestfuzz
xxlimited xxlimited_35 _ctypes _ctypes_test _tkinter _curses _curses_panel
_dbm _gdbm _sqlite3 _ssl _hashlib _bz2 _lzma zlib readline nis spwd
ossaudiodev audioop _crypt _uuid _lsprof _xxsubinterpreters"
# CPython tests run under qemu (one regrtest run, -j$JOBS), and the
# per-test timeout (seconds).  test_perf_profiler runs without its
# TestPerfProfiler class: that one drives the host's perf, which cannot
# profile an emulated process; nor test_jitdump_continued_after_exec:
# qemu-user's /proc/self/stat gives the start time of the emulator, which
# an exec() starts anew, so the new image takes its first image's dump for
# a dead process's (on Linux itself exec() keeps the start time).  CPU time of each under qemu here: test_sys
# 26 s, test_embed 103 s, test_perf_profiler 103 s.
AARCH64_PYTESTS=${AARCH64_PYTESTS-test_sys test_embed test_perf_profiler}
AARCH64_PYTEST_TIMEOUT=${AARCH64_PYTEST_TIMEOUT:-600}

BREAK=
for arg in "$@"; do
    case $arg in
        --break-stub=*) BREAK=${arg#--break-stub=} ;;
        --break-stub) BREAK=bti ;;
        *) die "unknown argument: $arg (usage: $0 [--break-stub=bti|x29|link|pac])" ;;
    esac
done
case $BREAK in ''|bti|x29|link|pac) ;; *) die "unknown --break-stub mode: $BREAK" ;; esac

T0=$SECONDS
elapsed() { echo "$((SECONDS - T0))s"; }

# ---------------------------------------------------------------- tools

pkg_installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

ensure_packages() {
    local missing= p
    for p in $PACKAGES; do
        pkg_installed "$p" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "missing Debian packages:$missing"
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
            say "cannot install them (not root, or no apt-get): skipping"
            exit 77
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        # shellcheck disable=SC2086
        apt-get install -y --no-install-recommends $missing
    fi
    for p in "$HOST-gcc" "$HOST-readelf" "$HOST-objdump" "$QEMU"; do
        command -v "$p" >/dev/null || die "$p not found after installing$PACKAGES"
    done
    [ -d "$SYSROOT/lib" ] || die "$SYSROOT/lib missing (libc6-arm64-cross)"
    say "tools: $($HOST-gcc --version | head -n1); $($QEMU --version | head -n1)"
}

# ---------------------------------------------------------------- build

# What determines build-aarch64/: the patched tree (inputs_hash, without
# the native CONFIGURE_FLAGS) and the configure arguments.  (The build
# Python only runs the freeze and sysconfig steps: any build of the same
# version gives the same result.)
cross_hash() {
    cross_configure_args
    {
        CONFIGURE_FLAGS= inputs_hash
        printf '%s\n' "${CONFIGURE_ARGS[@]}"
    } | sha256sum | cut -d' ' -f1
}

cross_configure_args() {
    local m
    CONFIGURE_ARGS=(
        --host=$HOST --build=$BUILD_TRIPLET
        --with-build-python="$NATIVE_PYTHON"
        CC=$HOST-gcc CFLAGS="$CROSS_CFLAGS"
        # configure cannot run aarch64 programs: answer its run tests.
        ac_cv_file__dev_ptmx=yes ac_cv_file__dev_ptc=no
        ac_cv_buggy_getaddrinfo=no
        # There is no aarch64-linux-gnu-pkg-config: the host's pkg-config
        # would offer x86-64 libraries (zlib: binascii then fails to link).
        PKG_CONFIG_LIBDIR=/usr/lib/$HOST/pkgconfig
    )
    for m in $SKIP_MODULES; do
        CONFIGURE_ARGS+=("py_cv_module_$m=n/a")
    done
}

cross_build() {
    local want
    [ -x "$NATIVE_PYTHON" ] || die "$NATIVE_PYTHON missing: run make first"
    want=$(cross_hash)
    if [ -x "$CROSS/python" ] && [ "$(cat "$CROSS/.perf311-built" 2>/dev/null)" = "$want" ]; then
        say "build-aarch64/ is up to date"
        return 0
    fi
    if [ "$(cat "$CROSS/.perf311-configured" 2>/dev/null)" = "$want" ]; then
        say "resuming the build in $CROSS"
    else
        say "building $CROSS from scratch"
        case $CROSS in /?*/?*) ;; *) die "refusing to use $CROSS as the build directory" ;; esac
        rm -rf "$CROSS"
        fetch_tarball
        patched_tree "$CROSS"
        cross_configure_args
        local t=$SECONDS
        (cd "$CROSS" && ./configure "${CONFIGURE_ARGS[@]}" >configure.out 2>&1) \
            || { tail -n 30 "$CROSS/configure.out" >&2; die "cross ./configure failed (see $CROSS/config.log)"; }
        grep -q '^checking perf trampoline\.\.\. yes' "$CROSS/configure.out" \
            || die "configure did not enable the perf trampoline for $HOST"
        say "configured in $((SECONDS - t))s"
        echo "$want" >"$CROSS/.perf311-configured"
    fi
    rm -f "$CROSS/.perf311-built"
    local t=$SECONDS
    # LIBMPDEC_A, LIBEXPAT_A: the bundled libmpdec and expat are built
    # for _decimal, pyexpat and _elementtree only, which are left out.
    (cd "$CROSS" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -j"$JOBS" LIBMPDEC_A= LIBEXPAT_A= >make.out 2>&1) \
        || { tail -n 40 "$CROSS/make.out" >&2; die "make in $CROSS failed (log: $CROSS/make.out)"; }
    say "built in $((SECONDS - t))s"
    [ -x "$CROSS/python" ] || die "make succeeded but $CROSS/python is missing"
    echo "$want" >"$CROSS/.perf311-built"
}

# ---------------------------------------------------------------- stub

GOOD_STUB=$REPO/overlay/Python/asm_trampoline.S
TREE_STUB=$CROSS/Python/asm_trampoline.S

# relink: rebuild python after the stub changed (asm_trampoline.o and the
# link only; the extension modules do not contain the stub).
relink() {
    (cd "$CROSS" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make python >relink.out 2>&1) \
        || { tail -n 20 "$CROSS/relink.out" >&2; die "relinking $CROSS/python failed"; }
}

# The tree's stub must be the committed one (a --break-stub run that was
# interrupted leaves a broken one behind).
restore_stub() {
    if ! cmp -s "$GOOD_STUB" "$TREE_STUB"; then
        say "restoring the committed stub in $CROSS and relinking"
        cp "$GOOD_STUB" "$TREE_STUB"
        relink
    fi
}

# break_stub MODE: rewrite instructions of the aarch64 stub, each in place
# (the C side checks the stub's size).  Every rewritten line is marked
# BROKEN; "t" ends a line's substitutions, so no line is rewritten twice.
break_stub() {
    local expr want got
    case $1 in
        bti)  want=1 expr='s|^\([[:space:]]*\)hint[[:space:]]*#34\b.*|\1nop                         /* BROKEN: no bti c */|' ;;
        pac)  want=1 expr='s|^\([[:space:]]*\)hint[[:space:]]*#25\b.*|\1nop                         /* BROKEN: no paciasp */|' ;;
        x29)  want=1 expr='s|^\([[:space:]]*\)ldp[[:space:]]*x29, x30, \[sp\], #16.*|\1ldp     x9, x30, [sp], #16  /* BROKEN: x29 not restored */|' ;;
        link) want=5 expr='s|^\([[:space:]]*\)stp[[:space:]]*x29, x30, \[sp, #-16\]!.*|\1sub     sp, sp, #STUB_RESERVE /* BROKEN: the reserve first */|
t
s|^\([[:space:]]*\)mov[[:space:]]*x29, sp\b.*|\1stp     x29, x30, [sp, #-16]!   /* BROKEN: the record below it, not linked */|
t
s|^\([[:space:]]*\)sub[[:space:]]*sp, sp, #STUB_RESERVE\b.*|\1nop                         /* BROKEN: x29 stays the caller'"'"'s */|
t
s|^\([[:space:]]*\)mov[[:space:]]*sp, x29\b.*|\1ldp     x29, x30, [sp], #16 /* BROKEN */|
t
s|^\([[:space:]]*\)ldp[[:space:]]*x29, x30, \[sp\], #16.*|\1add     sp, sp, #STUB_RESERVE /* BROKEN */|' ;;
    esac
    cp "$GOOD_STUB" "$TREE_STUB"
    sed -i "$expr" "$TREE_STUB"
    got=$(grep -c 'BROKEN' "$TREE_STUB" || true)
    [ "$got" = "$want" ] || die "--break-stub=$1: $got instruction(s) rewritten, expected $want (asm_trampoline.S was rewritten?)"
    say "--break-stub=$1: the aarch64 stub in $CROSS is now:"
    sed -n '/^#elif defined(__aarch64__)/,/_Py_trampoline_func_end:/p' "$TREE_STUB" \
        | grep -E '^[[:space:]]+(hint|nop|stp|ldp|mov|add|sub|blr|ret)' >&2
    relink
}

# ---------------------------------------------------------------- checks

EMU=("$QEMU" -cpu "$QEMU_CPU" -L "$SYSROOT")

# write_wrapper WRAPPER PROGRAM: a script that runs the aarch64 PROGRAM
# under qemu with argv[0] set to the script's own path (qemu -0), from which
# the program finds its build directory.  The emulated interpreter's
# sys.executable is such a wrapper, so that its subprocesses (-X perf
# children, the test suite's helpers) work without binfmt_misc; a copy of
# the wrapper elsewhere (test_embed copies _testembed) behaves like a copy
# of the program.
write_wrapper() {
    cat >"$1" <<EOF
#!/bin/sh
# Written by tools/check-aarch64.sh: run the aarch64 $(basename "$2") under qemu.
exec $QEMU -cpu $QEMU_CPU -L $SYSROOT -0 "\$0" "$2" "\$@"
EOF
    chmod +x "$1"
}

# emu_python SECONDS ARGS...: the emulated interpreter, in a clean
# environment, killed after SECONDS.
emu_python() {
    local limit=$1
    shift
    timeout --kill-after=10 "$limit" env -u PYTHONPERFSUPPORT \
        -u PYTHON_PERF_JIT_SUPPORT -u PYTHONHOME -u PYTHONSTARTUP \
        -u PYTHONPATH ${EXT_DIR:+PYTHONPATH=$EXT_DIR} \
        "$CROSS/python-qemu" "$@"
}

check_static() {
    local rc=0 obj notes
    for obj in Python/asm_trampoline.o Python/perf_trampoline.o Python/ceval.o; do
        notes=$("$HOST-readelf" -n "$CROSS/$obj")
        if grep -q 'AArch64 feature: BTI, PAC' <<<"$notes"; then
            say "  $obj: GNU property note: BTI, PAC"
        else
            say "  FAIL: $obj lacks the GNU property note (BTI, PAC)"; rc=1
        fi
    done
    if "$HOST-readelf" -n "$CROSS/python" | grep -q 'AArch64 feature: BTI'; then
        say "  python: GNU property note: BTI"
    else
        # The linker keeps the note only if every input has it; Debian 12's
        # crt1.o, crti.o and crtbegin*.o do not.  The arenas are guarded
        # with PROT_BTI regardless (the probe shows it).
        say "  python: no BTI property note (Debian's crt1.o/crti.o/crtbegin.o are unmarked; the linker drops it)"
    fi
    if "$HOST-readelf" -lW "$CROSS/python" | grep GNU_STACK | grep -q 'RWE'; then
        say "  FAIL: python has an executable stack"; rc=1
    else
        say "  python: no executable stack"
    fi
    "$HOST-objcopy" -O binary -j .text "$CROSS/Python/asm_trampoline.o" "$TMP/stub.bin"
    say "  stub (.text of asm_trampoline.o):$(od -An -tx4 -v "$TMP/stub.bin" | tr -s ' \n' ' ')"
    if [ "$(od -An -tx4 -N4 "$TMP/stub.bin" | tr -d ' ')" = d503245f ]; then
        say "  stub starts with bti c"
    else
        say "  FAIL: the stub does not start with bti c"; rc=1
    fi
    "$HOST-objdump" -d "$CROSS/Python/asm_trampoline.o" \
        | sed -n '/<_Py_trampoline_func_start>:/,$p' | sed 's/^/    /' >&2
    return $rc
}

check_probe() {
    "$HOST-gcc" -O2 $CROSS_CFLAGS -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer \
        -Wall -o "$TMP/bti_probe" "$REPO/tests/aarch64/bti_probe.c" "$TREE_STUB" \
        || { say "  FAIL: cannot build the probe"; return 1; }
    (cd "$TMP" && timeout 120 "${EMU[@]}" ./bti_probe)
}

build_fpwalk() {
    local suffix
    mkdir -p "$EXT_DIR"
    suffix=$(sed -n 's/^EXT_SUFFIX=[[:space:]]*//p' "$CROSS/Makefile")
    "$HOST-gcc" -shared -fPIC -O2 $CROSS_CFLAGS -fno-omit-frame-pointer \
        -mno-omit-leaf-frame-pointer -Wall -I"$CROSS/Include" -I"$CROSS" \
        -o "$EXT_DIR/_fpwalk$suffix" "$REPO/tests/aarch64/fpwalk.c"
}

check_features() {
    local list=$TMP/jitdumps.jsonl rc=0
    : >"$list"
    build_fpwalk || { say "  FAIL: cannot build _fpwalk"; return 1; }
    (cd "$TMP" && emu_python 900 "$REPO/tests/aarch64/feature_checks.py" \
        --jitdump-list "$list") || rc=1
    # The dumps are complete now that the emulated processes are gone.
    python3 "$REPO/tests/aarch64/check_dumps.py" --stub "$TMP/stub.bin" --remove "$list" || rc=1
    return $rc
}

# test_embed runs Programs/_testembed, an aarch64 program: put a wrapper
# in its place (idempotent; a relink brings back the ELF file, which is
# then wrapped again).
wrap_testembed() {
    local exe=$CROSS/Programs/_testembed
    [ -f "$exe" ] || return 0
    if [ "$(head -c 4 "$exe" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        mv "$exe" "$exe.aarch64"
    fi
    write_wrapper "$exe" "$exe.aarch64"
}

check_pytests() {
    wrap_testembed
    say "  python -m test -j$JOBS --timeout=$AARCH64_PYTEST_TIMEOUT $AARCH64_PYTESTS (under qemu)"
    # shellcheck disable=SC2086
    (cd "$TMP" && EXT_DIR= emu_python $((3 * AARCH64_PYTEST_TIMEOUT)) \
        -m test -j"$JOBS" --timeout="$AARCH64_PYTEST_TIMEOUT" \
        --ignore '*.TestPerfProfiler.*' \
        --ignore '*.test_jitdump_continued_after_exec' $AARCH64_PYTESTS)
}

RESULTS=()
# phase NAME FUNCTION: run one check, record PASS/FAIL and its time.
phase() {
    local name=$1 start=$SECONDS st
    say "--- $name"
    set +e
    ( set -e; "$2" )
    st=$?
    set -e
    if [ $st = 0 ]; then st=PASS; else st=FAIL; fi
    say "--- $name: $st ($((SECONDS - start))s)"
    RESULTS+=("$st $((SECONDS - start))s $name")
}

# ---------------------------------------------------------------- main

ulimit -c 0     # qemu would write a core file per deliberate crash
ensure_packages
cross_build
make_temp
EXT_DIR=$TMP/ext
write_wrapper "$CROSS/python-qemu" "$CROSS/python"

if [ -z "$BREAK" ]; then
    restore_stub
    phase "static checks (property notes, stub)" check_static
    phase "BTI/PAC enforcement probe" check_probe
    phase "feature checks under qemu" check_features
    if [ -n "$AARCH64_PYTESTS" ]; then
        phase "CPython tests under qemu: $AARCH64_PYTESTS" check_pytests
    fi
else
    trap 'rm -rf "$TMP"; cp "$GOOD_STUB" "$TREE_STUB"; relink' EXIT
    break_stub "$BREAK"
    phase "static checks (property notes, stub)" check_static
    phase "BTI/PAC enforcement probe" check_probe
    phase "feature checks under qemu" check_features
fi

say "summary ($(elapsed) in total):"
failed=0
for r in "${RESULTS[@]}"; do
    say "  $r"
    case $r in FAIL*) failed=$((failed + 1)) ;; esac
done
if [ -z "$BREAK" ]; then
    [ $failed = 0 ] || die "$failed check(s) failed"
    say "all aarch64 checks passed"
else
    case ${RESULTS[2]} in
        FAIL*) say "--break-stub=$BREAK: the feature checks FAILED, as they must (the good stub is restored on exit)" ;;
        *) die "--break-stub=$BREAK: the feature checks PASSED with a broken stub: they cannot detect it" ;;
    esac
fi
