#!/usr/bin/env bash
# Python called on a fiber: a stack from malloc(), outside the thread's
# stack (tests/fiber/fibermod.c).  The C-stack limits of the perf support
# are about the thread's own stack and must not apply there: every call
# from C on the fiber raised RecursionError when they did.  The calls made
# on the fiber must work as without perf support and appear in the map.
. "$(dirname "$0")/lib.sh" test_fiber

"$CC_FOR_TESTS" -shared -fPIC -O2 -Wall -I"$BUILD/Include" -I"$BUILD" \
    -o "$TMP/fibermod$EXT_SUFFIX" "$REPO/tests/fiber/fibermod.c" \
    || { say "FAIL: cannot build fibermod"; exit 1; }

cat >"$TMP/on_fiber.py" <<'PY'
import os, sys, fibermod
def leaf(i):
    return i * 2
def on_fiber():
    # Python-to-Python calls, calls from C (sorted's key), a generator.
    values = sorted((leaf(i) for i in range(50)), key=lambda v: -v)
    return sum(values)
print(f"pid={os.getpid()}")
print(f"result={fibermod.run(on_fiber, 1 << 20)}")
PY
expected=$(cd "$TMP" && "$PYTHON" on_fiber.py | sed -n 's/^result=//p')
for mode in perf perf_jit; do
    out=$(cd "$TMP" && "$PYTHON" -X "$mode" on_fiber.py 2>&1) \
        || { say "FAIL: -X $mode: $out"; exit 1; }
    pid=$(printf '%s\n' "$out" | sed -n 's/^pid=//p')
    PERF_PIDS+=("$pid")
    got=$(printf '%s\n' "$out" | sed -n 's/^result=//p')
    [ "$got" = "$expected" ] \
        || { say "FAIL: -X $mode: result '$got', expected '$expected': $out"; exit 1; }
    if [ "$mode" = perf ]; then
        grep -q ' py::on_fiber:' "/tmp/perf-$pid.map" \
            || { say "FAIL: py::on_fiber missing from /tmp/perf-$pid.map"; exit 1; }
    else
        grep -qa 'py::on_fiber:' "/tmp/jit-$pid.dump" \
            || { say "FAIL: py::on_fiber missing from /tmp/jit-$pid.dump"; exit 1; }
    fi
done
say "PASS: on a 1 MiB fiber stack, -X perf and -X perf_jit: result $expected, py::on_fiber described"
