#!/usr/bin/env bash
# make check-asan: the patched tree built with AddressSanitizer and
# UndefinedBehaviorSanitizer runs the feature's tests with no report.
#
#   build-asan/   pristine + overlay/ + patches/series (tools/patched-build.sh)
#                 configured --with-address-sanitizer
#                 --with-undefined-behavior-sanitizer --without-pymalloc
#                 (pymalloc hides heap errors from ASan), plus
#                 $CONFIGURE_FLAGS.  To keep the build short: -O1 instead
#                 of -O3 (OPT; it halves the compile time of the big files
#                 under the sanitizers) and the extension modules that
#                 neither test needs are not built (configure's
#                 py_cv_module_NAME=n/a): codecs, decimal, XML, databases,
#                 compression, TLS, GUI and terminal modules.
#   then          build-asan/python -m test test_perf_profiler
#                 PYTHON=build-asan/python tests/test_robustness.py, its
#                 stress tests at a quarter of their size
#                 (ROBUSTNESS_SCALE, default 0.25 here): 8 threads x 500
#                 functions, 50 forks per backend...
#
# ASan's leak checker is off (CPython does not free everything at exit);
# every other ASan error and any UBSan report stops the process
# (halt_on_error) and fails the step.  Output of the sanitizers goes to
# stderr of the process concerned, which the tests check.
#
# Knobs: ASAN_TESTS (default "test_perf_profiler"), ASAN_ROBUSTNESS
# (default 1: also run test_robustness.py), ROBUSTNESS_SCALE, JOBS.
#
# Time, measured on 2 cores shared with other builds (load 5-7): the build
# 11-12 minutes of wall time for 6 minutes of CPU (configure about 1 minute
# of it, serial), test_perf_profiler 1 minute, test_robustness.py at scale
# 0.25 about 3 minutes.  A rerun with unchanged patches skips the build.
. "$(dirname "$0")/lib.sh"

CONFIGURE_FLAGS=${CONFIGURE_FLAGS:-}
ASAN_TESTS=${ASAN_TESTS-test_perf_profiler}
DEST=$REPO/build-asan

export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0:handle_segv=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Part of the build's identity (they are in effect while make runs the
# new interpreter to build the modules).
export PATCHED_BUILD_ENV="ASAN_OPTIONS UBSAN_OPTIONS"

# -DNDEBUG -g -fwrapv -Wall as configure's default OPT, -O1 for -O3.
export OPT="-DNDEBUG -g -fwrapv -O1 -Wall"
PATCHED_BUILD_ENV="$PATCHED_BUILD_ENV OPT"
skip="_decimal _codecs_cn _codecs_hk _codecs_iso2022 _codecs_jp _codecs_kr
      _codecs_tw _multibytecodec _elementtree pyexpat _sqlite3 _ssl _hashlib
      _tkinter _curses _curses_panel _dbm _gdbm _lzma _bz2 _uuid _crypt nis
      ossaudiodev spwd audioop readline xxlimited xxlimited_35 _xxtestfuzz
      _testbuffer _testclinic _testimportmultiple _testmultiphase
      _ctypes_test"
na=()
for m in $skip; do
    na+=("py_cv_module_$m=n/a")
done

start=$SECONDS
set -f
# shellcheck disable=SC2086
"$TOOLS/patched-build.sh" build-asan \
    --with-address-sanitizer --with-undefined-behavior-sanitizer \
    --without-pymalloc "${na[@]}" $CONFIGURE_FLAGS
set +f
build_secs=$((SECONDS - start))
say "build-asan/ ready after ${build_secs}s"

status=0
start=$SECONDS
for t in $ASAN_TESTS; do
    say "build-asan/python -m test $t"
    (cd "$DEST" && ./python -m test -v --timeout=1800 "$t") || status=1
done
if [ "${ASAN_ROBUSTNESS:-1}" = 1 ]; then
    robustness=tests/test_robustness.py
    say "PYTHON=build-asan/python $robustness"
    (cd "$REPO" && PYTHON=$DEST/python REPO=$REPO \
        ROBUSTNESS_SCALE=${ROBUSTNESS_SCALE:-0.25} \
        "$DEST/python" "$robustness") || status=1
fi
say "tests took $((SECONDS - start))s (build ${build_secs}s)"
[ "$status" = 0 ] || die "a test failed under ASan/UBSan (see above)"
say "no sanitizer report"
