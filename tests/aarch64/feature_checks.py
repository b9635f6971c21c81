"""Feature checks of the perf trampolines that need no perf.

Run by tools/check-aarch64.sh with the cross-built interpreter under
qemu-aarch64 (any build of the patched tree with _testinternalcapi works,
but the frame-pointer walks need _fpwalk, built from tests/aarch64/fpwalk.c
for aarch64).  Standard library only.

    python feature_checks.py [--list] [--jitdump-list FILE] [NAME ...]

Runs every check (or the named ones) and prints one line per check:
"ok NAME (seconds)" or "FAIL NAME: reason".  Exit status 0 if all passed.

Checks that start interpreters with startup switches (-X perf, -X perf_jit,
the environment variables) run sys.executable, which under qemu is a
wrapper script that runs the emulated interpreter again.  Jitdump files are
not parsed here: their paths, with what to expect of them, are appended to
the --jitdump-list file as lines of JSON, and the caller checks them on the
host with tools/jitdump_check.py (then removes them).

What a "frame walk" checks: _fpwalk.walk() follows the x29 chain like
perf record -g.  Each return address is resolved through this process's
perf map, like perf report: an address inside a trampoline is a Python
frame (py::NAME), anything else is native.  The chain must hold every
Python frame entered since the activation, in call order (a stub that does
not restore x29 leaves its caller with a dangling frame pointer: the chain
ends early, or the interpreter crashes), each one immediately followed by
either a native frame inside the interpreter, the C function that called
the trampoline (a stub that does not link its frame record hides it), or
by its Python caller: for a Python-to-Python call that the evaluator runs
inlined, it writes a frame record of its own in the reserve below the
caller's stub, whose return address is the callee's trampoline at the
stub's return offset and which links straight to the caller's record.  The
outermost expected frame was called from a frame that was running at the
activation, through a real call of its trampoline: a native frame must
follow it.  A reserve holds _PyPerf_INLINE_RECORDS records (read from the
interpreter's pycore_perf.h), so at most that many plus one Python frames
can follow each other without a native frame between them: the next
nested call goes through its trampoline, called by the evaluator (a stub
that does not link its frame record hides that caller, and the chain shows
every nested Python frame in a row).
"""

import bisect
import json
import os
import re
import subprocess
import sys
import sysconfig
import threading
import time
import traceback

import _testinternalcapi

try:
    import _fpwalk
except ImportError:
    _fpwalk = None

CHECKS = []
JITDUMP_LIST = None
MAP_LINE = re.compile(r"([0-9a-f]+) ([0-9a-f]+) (py::.*)\Z")
# Generous: every child is another emulated interpreter.
CHILD_TIMEOUT = 300


class Failure(Exception):
    pass


def check(func):
    CHECKS.append(func)
    return func


def expect(cond, message, *args):
    if not cond:
        raise Failure(message % args if args else message)


def map_path(pid=None):
    return "/tmp/perf-%d.map" % (os.getpid() if pid is None else pid)


def read_map(pid=None):
    """The perf map of pid as a list of (start, size, name); every line
    must be well-formed."""
    path = map_path(pid)
    with open(path, "rb") as f:
        data = f.read()
    expect(data == b"" or data.endswith(b"\n"), "%s: last line is torn",
           path)
    entries = []
    for n, raw in enumerate(data.splitlines(), 1):
        line = raw.decode("utf-8", "strict")
        m = MAP_LINE.match(line)
        expect(m is not None, "%s:%d: malformed line %r", path, n, line)
        entries.append((int(m.group(1), 16), int(m.group(2), 16),
                        m.group(3)))
    return entries


def remove_map(pid=None):
    try:
        os.unlink(map_path(pid))
    except FileNotFoundError:
        pass


def perf_name(func):
    code = func.__code__
    return "py::%s:%s" % (code.co_qualname, code.co_filename)


def tramp(func):
    return _testinternalcapi.perf_trampoline_lookup(func.__code__)


def flush_map():
    """Deactivate (which flushes the map) and reactivate."""
    sys.deactivate_stack_trampoline()
    sys.activate_stack_trampoline("perf")


def run_child(args, env=None, input=None):
    """Run sys.executable with args; return (returncode, stdout, stderr)."""
    full_env = dict(os.environ)
    for var in ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT"):
        full_env.pop(var, None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + args, env=full_env,
                          input=input, capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT)
    return proc.returncode, proc.stdout, proc.stderr


def note_jitdump(path, **expectations):
    """Ask the caller to check a jitdump file on the host."""
    expect(os.path.exists(path), "%s was not written", path)
    if JITDUMP_LIST is None:
        os.unlink(path)
        return
    with open(JITDUMP_LIST, "a") as f:
        f.write(json.dumps(dict(path=path, **expectations)) + "\n")


# ---- frame walks ----

def exe_text_ranges():
    """Executable mappings of the interpreter binary (from /proc/self/maps,
    which qemu emulates for the guest)."""
    exe = os.path.realpath("/proc/self/exe")
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and "x" in fields[1] and fields[5] == exe:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((lo, hi))
    return exe, ranges


def symbolize(ras, entries):
    """perf report's view of a chain: map names for addresses inside a
    trampoline, None for native ones."""
    entries = sorted(entries)
    starts = [e[0] for e in entries]
    out = []
    for ra in ras:
        i = bisect.bisect_right(starts, ra) - 1
        name = None
        if i >= 0 and ra < entries[i][0] + entries[i][1]:
            name = entries[i][2]
        out.append(name)
    return out


def render(ras, names, limit=40):
    """A chain for a message: repeated entries folded, long chains cut."""
    out = []
    for ra, n in zip(ras, names):
        item = n if n else "%#x" % ra
        if out and out[-1][0] == item:
            out[-1][1] += 1
        else:
            out.append([item, 1])
    parts = [i if c == 1 else "%s (x%d)" % (i, c) for i, c in out]
    if len(parts) > limit:
        parts = parts[:limit] + ["... %d more" % (len(parts) - limit)]
    return " <- ".join(parts)


_inline_records = None


def inline_records():
    """_PyPerf_INLINE_RECORDS, the frame records a stub's reserve holds,
    from the running interpreter's Include/internal/pycore_perf.h (its
    build tree's or the installed one)."""
    global _inline_records
    if _inline_records is None:
        paths = [os.path.join(d, "internal", "pycore_perf.h") for d in
                 (os.path.join(sysconfig.get_config_var("srcdir") or "",
                               "Include"),
                  sysconfig.get_paths()["include"])]
        for path in paths:
            try:
                with open(path) as f:
                    m = re.search(r"^#define _PyPerf_INLINE_RECORDS (\d+)",
                                  f.read(), re.M)
            except OSError:
                continue
            if m:
                _inline_records = int(m.group(1))
                break
        else:
            raise Failure("_PyPerf_INLINE_RECORDS not found in %s"
                          % " or ".join(paths))
    return _inline_records


def check_chain(ras, expected, where):
    """ras: a walk taken while the perf backend was active (the map must
    be flushed before this is called).  expected: the names of the
    innermost Python frames, innermost first, up to the outermost one that
    was entered after the activation (frames running at activation have
    no trampoline).  Every one of them must be followed by a native frame
    inside the interpreter, the C function that called the trampoline, or
    (all but the outermost) by the next expected Python frame: the frame
    record the evaluator writes for an inlined call links the callee's
    trampoline straight to its caller's.  No more than one reserve's
    records plus one Python frame may follow each other without a native
    frame, the evaluator that called the next trampoline."""
    entries = read_map()
    names = symbolize(ras, entries)
    py = [(i, n) for i, n in enumerate(names) if n is not None]
    got = [n for _, n in py[:len(expected)]]
    if got != list(expected):
        raise Failure("%s: the Python frames of the native chain are %s, "
                      "expected %s (innermost first); chain: %s"
                      % (where, render(got, got, 8),
                         render(expected, expected, 8), render(ras, names)))
    limit = inline_records() + 1
    run = 1
    for k in range(1, len(expected)):
        run = run + 1 if py[k][0] == py[k - 1][0] + 1 else 1
        if run > limit:
            raise Failure("%s: %d Python frames in a row (innermost %s) "
                          "without a native frame: a reserve holds %d frame "
                          "records, so every %dth nested call goes through "
                          "its trampoline, called by the evaluator, which is "
                          "missing (a stub that does not link its frame "
                          "record hides it); chain: %s"
                          % (where, run, py[k - run + 1][1], limit - 1,
                             limit, render(ras, names)))
    exe, text = exe_text_ranges()
    for k, (i, n) in enumerate(py[:len(expected)]):
        if (k + 1 < len(expected) and i + 1 < len(ras)
                and py[k + 1][0] == i + 1):
            # An inlined call's frame record: the callee's trampoline,
            # then its Python caller (checked in the next round).
            continue
        if i + 1 >= len(ras) or names[i + 1] is not None:
            raise Failure("%s: the frame after %s is %s, expected the "
                          "native caller of the trampoline (a frame record "
                          "is missing)%s; chain: %s"
                          % (where, n, names[i + 1] if i + 1 < len(ras)
                             else "nothing",
                             " (the outermost frame entered after the "
                             "activation is always called through its "
                             "trampoline)" if k + 1 == len(expected)
                             else "", render(ras, names)))
        ra = ras[i + 1]
        if not any(lo <= ra < hi for lo, hi in text):
            raise Failure("%s: the caller of %s, %#x, is not in %s's code; "
                          "chain: %s" % (where, n, ra, exe,
                                         render(ras, names)))


def run_active(func, backend="perf"):
    """Call func() with the backend active: func itself is then entered
    through a trampoline (frames that were running at the activation have
    none)."""
    sys.activate_stack_trampoline(backend)
    try:
        return func()
    finally:
        sys.deactivate_stack_trampoline()


def need_fpwalk():
    expect(_fpwalk is not None, "_fpwalk is not importable (build it from "
           "tests/aarch64/fpwalk.c)")


# ---- checks ----

@check
def sys_api():
    expect(sys.is_stack_trampoline_active() is False,
           "active at start without any switch")
    expect(sys.activate_stack_trampoline("perf") is None,
           "activate returned something")
    expect(sys.is_stack_trampoline_active() is True, "not active")
    sys.activate_stack_trampoline("perf")           # no-op
    expect(sys.is_stack_trampoline_active() is True, "re-activation")
    for bad, exc in ((1, TypeError), (None, TypeError),
                     ("perfx", ValueError), ("", ValueError)):
        try:
            sys.activate_stack_trampoline(bad)
        except exc as e:
            if exc is ValueError:
                expect("'perf'" in str(e) and "'perf_jit'" in str(e),
                       "ValueError message %r", str(e))
        else:
            raise Failure("activate(%r) did not raise %s"
                          % (bad, exc.__name__))
    expect(sys.is_stack_trampoline_active() is True,
           "a failed activation changed the state")
    expect(sys.deactivate_stack_trampoline() is None,
           "deactivate returned something")
    expect(sys.is_stack_trampoline_active() is False, "still active")
    expect(sys.deactivate_stack_trampoline() is None, "second deactivate")

    # A foreign PEP 523 function blocks activation and changes nothing.
    _testinternalcapi.set_eval_frame_record([])
    try:
        try:
            sys.activate_stack_trampoline("perf")
        except RuntimeError:
            pass
        else:
            raise Failure("activation over a foreign eval-frame function "
                          "did not raise RuntimeError")
    finally:
        _testinternalcapi.set_eval_frame_default()
    expect(sys.is_stack_trampoline_active() is False,
           "active after the refused activation")

    # Unlimited cycles (a code-extra index per activation runs out at 255),
    # with a trampolined call in every cycle.
    def cycled(x):
        return x + 1
    total = 0
    for i in range(300):
        sys.activate_stack_trampoline("perf")
        total = cycled(total)
        sys.deactivate_stack_trampoline()
    expect(total == 300, "wrong result %d after 300 cycles", total)
    expect(tramp(cycled) is not None, "cycled() has no trampoline")
    # Switching the backend while active.  (Only once towards perf_jit: a
    # function described to one output twice would be a duplicate
    # CODE_LOAD, which the dump check at the end rejects.)
    sys.activate_stack_trampoline("perf")
    sys.activate_stack_trampoline("perf_jit")
    expect(sys.is_stack_trampoline_active(), "not active after a switch")
    expect(cycled(1) == 2, "wrong result after the backend switch")
    sys.deactivate_stack_trampoline()


@check
def map_contents():

    def plain(a, b):
        return a * b

    class Klass:
        def method(self):
            return "m"

    lam = lambda: 42                                    # noqa: E731

    def ugly():
        return "u"
    ugly.__code__ = ugly.__code__.replace(co_qualname="bad\nname\r\0x")

    def long_one():
        return "l"
    long_one.__code__ = long_one.__code__.replace(co_qualname="q" * 5000)

    src = "def twin():\n    return 't'\n"
    twins = []
    for _ in range(3):
        ns = {}
        exec(compile(src, "<twin-src>", "exec"), ns)
        twins.append(ns["twin"])

    sys.activate_stack_trampoline("perf")
    try:
        for _ in range(3):
            results = (plain(6, 7), Klass().method(), lam(), ugly(),
                       long_one(), [t() for t in twins])
    finally:
        sys.deactivate_stack_trampoline()
    expect(results == (42, "m", 42, "u", "l", ["t", "t", "t"]),
           "wrong results %r", results)
    entries = read_map()
    by_name = {}
    for start, size, name in entries:
        by_name.setdefault(name, []).append((start, size))
    sizes = {size for _, size, _ in entries}
    expect(len(sizes) == 1, "code sizes differ: %s", sizes)
    size = sizes.pop()
    stub = {"aarch64": 40, "x86_64": 22}.get(os.uname().machine, 1)
    expect(size >= stub, "code size %d is smaller than the %s stub (%d)",
           size, os.uname().machine, stub)
    owners = {}
    for start, _, name in entries:
        expect(owners.setdefault(start, name) == name,
               "%#x belongs to %s and %s", start, owners[start], name)
    starts = list(owners)
    if os.uname().machine == "aarch64":
        expect(all(s % 4 == 0 for s in starts),
               "a trampoline is not 4-byte aligned (aarch64 instructions)")
    for func in (plain, Klass.method, lam, twins[0]):
        name = perf_name(func)
        expect(name in by_name, "%s not in the map", name)
        expect(len(by_name[name]) == 1, "%s appears %d times", name,
               len(by_name[name]))
        expect(by_name[name][0][0] == tramp(func),
               "%s: map address %#x, trampoline %#x", name,
               by_name[name][0][0], tramp(func) or 0)
    expect(perf_name(Klass.method).startswith(
        "py::map_contents.<locals>.Klass.method:"), "qualname not used")
    expect(tramp(twins[0]) == tramp(twins[1]) == tramp(twins[2]),
           "identical functions got different trampolines")
    ugly_names = [n for n in by_name if n.startswith("py::bad")]
    expect(ugly_names == ["py::bad?name??x:" + __file__],
           "control characters not sanitized: %r", ugly_names)
    long_names = [n for n in by_name if n.startswith("py::qqq")]
    expect(len(long_names) == 1 and len(long_names[0].encode()) <= 4096
           and "..." in long_names[0], "long name not truncated: %d bytes",
           len(long_names[0].encode()) if long_names else -1)


@check
def frame_walk_nested():
    """Inlined Python-to-Python calls, calls from C, and a walk taken after
    trampolined calls returned (x29 must have been restored)."""
    need_fpwalk()

    def leaf(n):
        return n + 1

    def mid():
        leaf(1)
        leaf(2)
        return _fpwalk.walk()

    def top():
        return mid()

    def outer():
        return top()

    via_c = lambda _: mid()                             # noqa: E731

    def scenario():
        # map() calls via_c through the C API.
        return outer(), list(map(via_c, [0]))[0]

    ras, ras_c = run_active(scenario)
    check_chain(ras, [perf_name(f) for f in (mid, top, outer, scenario)],
                "nested")
    check_chain(ras_c, [perf_name(f) for f in (mid, via_c, scenario)],
                "called from C")


@check
def deep_recursion():
    need_fpwalk()
    depth = 900
    walks = []

    def rec(n):
        if n == 0:
            walks.append(_fpwalk.walk())
            return 0
        return rec(n - 1) + 1

    def scenario():
        return rec(depth)

    def forever(n):
        return forever(n + 1)

    def too_deep():
        try:
            forever(0)
        except RecursionError:
            return True
        return False

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, depth + 200))
    try:
        result = run_active(scenario)
    finally:
        sys.setrecursionlimit(old)
    expect(result == depth, "rec(%d) returned %r", depth, result)
    check_chain(walks[0], [perf_name(rec)] * (depth + 1)
                + [perf_name(scenario)], "recursion")
    # Deeper than the limit: RecursionError, no crash.
    expect(run_active(too_deep), "no RecursionError")


@check
def generators():
    need_fpwalk()
    walks = []

    def gen(n):
        total = 0
        for i in range(n):
            try:
                got = yield i
            except ValueError as e:
                got = int(str(e))
            if got:
                total += got
            if i == 1:
                walks.append(_fpwalk.walk())
        return total

    async def coro_inner(x):
        return x * 2

    async def coro_outer():
        return await coro_inner(21)

    def scenario():
        g = gen(5)
        values = [next(g), g.send(10), g.throw(ValueError("5")), g.send(1)]
        try:
            g.send(0)
            g.send(0)
        except StopIteration as e:
            ret = e.value
        else:
            ret = None
        squares = sum(x * x for x in range(100))
        c = coro_outer()
        try:
            c.send(None)
        except StopIteration as e:
            coro_result = e.value
        else:
            coro_result = None
        g2 = gen(10)
        next(g2)
        g2.close()
        import asyncio
        aio = asyncio.run(coro_outer())
        return values, ret, squares, coro_result, aio

    values, ret, squares, coro_result, aio = run_active(scenario)
    expect(values == [0, 1, 2, 3], "generator yielded %r", values)
    expect(ret == 16, "generator returned %r, expected 16", ret)
    expect(squares == 328350, "generator expression gave %r", squares)
    expect(coro_result == 42 and aio == 42, "coroutines gave %r, %r",
           coro_result, aio)
    names = {n for _, _, n in read_map()}
    for func in (gen, coro_inner, coro_outer):
        expect(perf_name(func) in names, "%s not in the map", perf_name(func))
    check_chain(walks[0], [perf_name(gen), perf_name(scenario)],
                "generator")


@check
def unwinding():
    """Frame records of inlined frames that an exception unwinds
    (exit_unwind), within one reserve and across several, and of a
    generator function's first frame (RETURN_GENERATOR), are taken back:
    walks taken afterwards show only the frames still running."""
    need_fpwalk()
    depth = 3 * inline_records()

    def fail(n):
        if n == 0:
            raise KeyError(n)
        return fail(n - 1)

    def gen():
        yield 1

    def catcher(n):
        try:
            fail(n)
        except KeyError:
            pass
        unwound = _fpwalk.walk()
        g = gen()
        return unwound, _fpwalk.walk(), next(g)

    def scenario():
        # A function's first call goes through its trampoline for real
        # (its trampoline is made then): warm up so that the checked runs
        # unwind frames with records.
        catcher(2)
        return catcher(2), catcher(depth)

    for (unwound, created, one), n in zip(run_active(scenario), (2, depth)):
        expect(one == 1, "next(gen()) gave %r", one)
        check_chain(unwound, [perf_name(catcher), perf_name(scenario)],
                    "after unwinding %d frames" % (n + 1))
        check_chain(created, [perf_name(catcher), perf_name(scenario)],
                    "after creating a generator")


@check
def threads():
    need_fpwalk()
    errors = []
    nthreads, rounds = 4, 40
    barrier = threading.Barrier(nthreads + 1)

    def work(k):
        def inner(i):
            return i * k
        s = 0
        for i in range(200):
            s += inner(i)
        return s

    def walker():
        return _fpwalk.walk()

    def worker(k):
        try:
            barrier.wait()
            for r in range(rounds):
                got = work(k)
                if got != k * 19900:
                    errors.append("thread %d: work gave %d" % (k, got))
        except Exception:
            errors.append(traceback.format_exc())

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    barrier.wait()
    # Toggle the backend while the workers call trampolined functions.
    for i in range(60):
        sys.activate_stack_trampoline("perf")
        time.sleep(0.001)
        sys.deactivate_stack_trampoline()
    for t in ts:
        t.join()
    expect(not errors, "%s", "\n".join(errors))
    names = {n for _, _, n in read_map()}   # every line well-formed
    expect(perf_name(work) in names, "work() not in the map")

    # A walk inside a thread reaches the thread's outermost Python frame.
    result = []
    sys.activate_stack_trampoline("perf")
    try:
        def thread_main():
            result.append(walker())
        t = threading.Thread(target=thread_main)
        t.start()
        t.join()
    finally:
        sys.deactivate_stack_trampoline()
    check_chain(result[0], [perf_name(walker), perf_name(thread_main),
                            perf_name(threading.Thread.run)], "thread")


@check
def fork():

    def parent_only():
        return "p"

    def child_only():
        return "c"

    def running_at_fork():
        pid = os.fork()
        if pid == 0:
            code = 0 if child_only() == "c" else 3
            os._exit(code)
        return pid

    def fork_child(persist):
        """Fork with persist-after-fork set to persist; the child's pid and
        exit status."""
        _testinternalcapi.perf_trampoline_set_persist_after_fork(persist)
        try:
            pid = running_at_fork()
        finally:
            _testinternalcapi.perf_trampoline_set_persist_after_fork(0)
        _, status = os.waitpid(pid, 0)
        return pid, os.waitstatus_to_exitcode(status)

    def fork_and_wait(persist):
        pid, code = fork_child(persist)
        expect(code == 0, "child exit status %d", code)
        names = {n for _, _, n in read_map(pid)}
        remove_map(pid)
        return names

    sys.activate_stack_trampoline("perf")
    try:
        parent_only()
        child = fork_and_wait(0)
        persisted = fork_and_wait(1)
    finally:
        sys.deactivate_stack_trampoline()
    parent = {n for _, _, n in read_map()}
    expect(perf_name(child_only) in child, "child map lacks child_only")
    expect(perf_name(running_at_fork) in child,
           "child map lacks the frame running at fork")
    expect(perf_name(parent_only) not in child,
           "child map has the parent's parent_only")
    expect(perf_name(child_only) not in parent,
           "parent map has the child's child_only")
    expect(perf_name(parent_only) in parent, "parent map lacks parent_only")
    expect(perf_name(parent_only) in persisted,
           "persist-after-fork: child map lacks the parent's entries")

    # perf_jit: the children's dumps and the parent's are well-formed, also
    # with persist-after-fork (which must not abort).
    children = []
    sys.activate_stack_trampoline("perf_jit")
    try:
        parent_only()
        for persist in (0, 1):
            children.append(fork_child(persist))
    finally:
        sys.deactivate_stack_trampoline()
    for pid, code in children:
        expect(code == 0, "perf_jit child: exit status %d", code)
        note_jitdump("/tmp/jit-%d.dump" % pid, pid=pid,
                     names=[perf_name(child_only)], require_close=False)
    # The parent's dump is complete only after this process exited: the
    # caller checks it then.
    note_jitdump("/tmp/jit-%d.dump" % os.getpid(), pid=os.getpid(),
                 names=[perf_name(parent_only)], require_close=False)


@check
def startup_perf():
    """-X perf and PYTHONPERFSUPPORT in a fresh interpreter."""
    code = ("import os, sys\n"
            "def hello():\n    return 'hi'\n"
            "print(os.getpid(), hello(), sys.is_stack_trampoline_active())\n")
    rc, out, err = run_child(["-X", "perf", "-c", code])
    expect(rc == 0, "-X perf: exit status %d: %s", rc, err)
    pid, hi, active = out.split()
    expect(hi == "hi" and active == "True", "-X perf: output %r", out)
    names = {n for _, _, n in read_map(int(pid))}
    remove_map(int(pid))
    expect("py::hello:<string>" in names, "-X perf: hello not in the map")
    expect("py::<module>:<string>" in names, "-X perf: <module> not in the "
           "map")

    rc, out, err = run_child(["-c", code], env={"PYTHONPERFSUPPORT": "1"})
    expect(rc == 0, "PYTHONPERFSUPPORT=1: exit status %d: %s", rc, err)
    pid, hi, active = out.split()
    expect(active == "True", "PYTHONPERFSUPPORT=1: not active")
    remove_map(int(pid))

    rc, out, err = run_child(["-X", "perf=foo", "-c", "pass"])
    expect(rc == 1 and "-X perf=foo" in err and "invalid" in err,
           "-X perf=foo: status %d, stderr %r", rc, err)


@check
def startup_perf_jit():
    """-X perf_jit: the dump is checked on the host (elf_mach, unwinding
    information) after the child exited."""
    code = ("import os, sys\n"
            "def jitted_a():\n    return 1\n"
            "def jitted_b():\n    return jitted_a() + 1\n"
            "print(os.getpid(), jitted_b(), sys.is_stack_trampoline_active())\n")
    rc, out, err = run_child(["-X", "perf_jit", "-c", code])
    expect(rc == 0, "-X perf_jit: exit status %d: %s", rc, err)
    pid, two, active = out.split()
    expect(two == "2" and active == "True", "-X perf_jit: output %r", out)
    note_jitdump("/tmp/jit-%s.dump" % pid, pid=int(pid),
                 names=["py::jitted_a:<string>", "py::jitted_b:<string>",
                        "py::<module>:<string>"], require_close=True)


def main(argv):
    global JITDUMP_LIST
    names = []
    it = iter(argv)
    for arg in it:
        if arg == "--list":
            print("\n".join(f.__name__ for f in CHECKS))
            return 0
        elif arg == "--jitdump-list":
            JITDUMP_LIST = next(it)
        else:
            names.append(arg)
    known = {f.__name__: f for f in CHECKS}
    unknown = [n for n in names if n not in known]
    if unknown:
        print("unknown checks: %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    selected = [known[n] for n in names] if names else CHECKS
    failed = 0
    print("feature_checks: %s, pid %d, executable %s"
          % (sys.version.split()[0], os.getpid(), sys.executable),
          flush=True)
    for func in selected:
        start = time.monotonic()
        try:
            func()
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (func.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s: unexpected exception\n%s"
                  % (func.__name__, traceback.format_exc()), flush=True)
        else:
            print("ok %s (%.1fs)" % (func.__name__, time.monotonic() - start),
                  flush=True)
        finally:
            if sys.is_stack_trampoline_active():
                sys.deactivate_stack_trampoline()
    remove_map()
    print("feature_checks: %d of %d failed" % (failed, len(selected)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
