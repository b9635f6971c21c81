#!/usr/bin/env python3
"""make bench-scale: how perf support behaves as programs get big.

(a) identities: exec 100,000 freshly compiled code objects that have only
    10 distinct (qualname, filename, firstlineno) identities, under -X perf:
    lines in the map, RSS and executable anonymous memory (the trampoline
    arenas, from /proc/self/maps) before and after.
(b) distinct: 100,000 distinct functions, each called twice: CPU time of
    the first pass (creates every trampoline and writes the map or jitdump)
    and the second, process CPU, peak RSS (ru_maxrss), and the size of
    /tmp/perf-PID.map or /tmp/jit-PID.dump.
(c) call cost: after 10^2 ... 10^6 functions got trampolines, the time per
    call of one fixed small function (and of a pass over all N functions),
    with support off and on.  The lookup is one co_extra load, so the fixed
    call should not change with N.

Run with any python3; the children run the interpreters being measured
(the snapshot of build/ made as in bench/run.py, and the other CPythons
>= 3.12 found there, for comparison).  BENCH_SCALE_MAX limits (c)
(default 1000000) and BENCH_SCALE_N the N of (a) and (b) (default
100000).  Timings are measured inside the children with
time.process_time(); this is a benchmark that prints numbers, not a test.
"""

import json
import os
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)


# ---------------------------------------------------------------------
# Child side: runs under the interpreter being measured.

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rx_anon_kib():
    """Executable anonymous mappings (where trampoline arenas live)."""
    total = 0
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            perms, inode = parts[1], parts[4]
            path = parts[5] if len(parts) > 5 else ""
            if perms.startswith("r-x") and inode == "0" and not path:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                total += (hi - lo) // 1024
    return total


def child_identities(n):
    before = (status_kib("VmRSS"), rx_anon_kib())
    t0 = time.process_time()
    for i in range(n):
        k = i % 10
        src = ("def work_%d(x):\n    return x + %d\n"
               "result = work_%d(%d)\n" % (k, k, k, i))
        exec(compile(src, "<scale-identities>", "exec"), {})
    cpu = time.process_time() - t0
    after = (status_kib("VmRSS"), rx_anon_kib())
    return {"rss0": before[0], "rss1": after[0], "rx0": before[1],
            "rx1": after[1], "cpu": cpu}


def make_functions(n, filename):
    funcs = []
    chunk = 1000
    for c in range(0, n, chunk):
        src = "".join("def f%d(x):\n    return x\n" % i
                      for i in range(c, min(n, c + chunk)))
        ns = {}
        exec(compile(src, filename, "exec"), ns)
        funcs.extend(v for k, v in ns.items() if k.startswith("f"))
    return funcs


def call_all(funcs):
    for f in funcs:
        f(1)


def child_distinct(n):
    funcs = make_functions(n, "<scale-distinct>")
    t0 = time.process_time()
    call_all(funcs)
    t1 = time.process_time()
    call_all(funcs)
    t2 = time.process_time()
    return {"first": t1 - t0, "second": t2 - t1, "n": len(funcs)}


def small(x):
    return x


def loop_fixed(n):
    f = small
    for i in range(n):
        f(i)


def loop_empty(n):
    for i in range(n):
        pass


def best(fn, arg, reps=7):
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn(arg)
        times.append(time.process_time() - t0)
    return min(times)


def child_callcost(n):
    small(0)
    t0 = time.process_time()
    funcs = make_functions(n, "<scale-callcost>")
    call_all(funcs)             # every one of them gets a trampoline
    setup = time.process_time() - t0
    calls = 1_000_000
    fixed = best(loop_fixed, calls)
    empty = best(loop_empty, calls)
    passes = max(1, calls // n)
    t0 = time.process_time()
    for _ in range(passes):
        call_all(funcs)
    t_all = time.process_time() - t0
    return {"setup": setup, "fixed_ns": (fixed - empty) / calls * 1e9,
            "all_ns": t_all / (n * passes) * 1e9, "rss": status_kib("VmRSS")}


def child_main(which, n):
    fn = {"identities": child_identities, "distinct": child_distinct,
          "callcost": child_callcost}[which]
    print(json.dumps(fn(n)))


# ---------------------------------------------------------------------
# Parent side.

def run_scale_child(argv, which, n, env):
    """Run a child; return (its json result, rusage, map/dump info)."""
    import tempfile
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(argv + [os.path.abspath(__file__), "child", which,
                                     str(n)],
                             stdout=subprocess.PIPE, stderr=errf, env=env)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        errf.seek(0)
        err = errf.read()
    p.returncode = os.waitstatus_to_exitcode(status) if hasattr(
        os, "waitstatus_to_exitcode") else status
    files = {}
    for kind, path in (("map", "/tmp/perf-%d.map" % p.pid),
                       ("dump", "/tmp/jit-%d.dump" % p.pid)):
        if os.path.exists(path):
            info = {"size": os.path.getsize(path)}
            if kind == "map":
                with open(path, "rb") as f:
                    lines = f.read().splitlines()
                info["lines"] = len(lines)
                info["tagged"] = sum(1 for l in lines if b"<scale-" in l)
            else:
                info["records"] = count_jitdump(path)
            files[kind] = info
    from run import cleanup_tmp
    cleanup_tmp(p.pid)
    if p.returncode != 0 or err.strip():
        raise SystemExit("scale: %s %s %d failed (%s): %s"
                         % (" ".join(argv), which, n, p.returncode,
                            err.decode(errors="replace")[-500:]))
    return json.loads(out), ru, files


def count_jitdump(path):
    """Number of CODE_LOAD records (id 0) in a jitdump file."""
    import struct
    n = 0
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 40:
        return 0
    pos = struct.unpack_from("=I", data, 8)[0]      # header total_size
    while pos + 16 <= len(data):
        rid, size = struct.unpack_from("=II", data, pos)
        if size < 16:
            break
        if rid == 0:
            n += 1
        pos += size
    return n


def md(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:"
                          for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    import run as bench_run
    stamp, snap = bench_run.ensure_build(skip_make="--no-make" in sys.argv)
    ours = os.path.join(snap, "python")
    env = bench_run.clean_env()
    others = [] if "--no-others" in sys.argv else bench_run.find_others()
    limit = int(os.environ.get("BENCH_SCALE_MAX", "1000000"))
    out = ["# perf support scale checks", "",
           "- date: " + time.strftime("%Y-%m-%d %H:%M %Z"),
           "- machine: " + bench_run.machine(),
           "- build/ inputs hash: " + stamp[:16], ""]

    def emit(text):
        print(text, flush=True)
        out.append(text)

    print("\n".join(out), flush=True)

    # (a)
    n = int(os.environ.get("BENCH_SCALE_N", "100000"))
    rows = []
    configs = [("ours off", [ours]), ("ours perf", [ours, "-X", "perf"]),
               ("ours perf_jit", [ours, "-X", "perf_jit"])]
    configs += [("%s perf" % v, [e, "-X", "perf"]) for v, e in others]
    for label, argv in configs:
        r, ru, files = run_scale_child(argv, "identities", n, env)
        f = files.get("map") or {}
        d = files.get("dump") or {}
        rows.append([label, f.get("tagged", "—"), f.get("lines", "—"),
                     d.get("records", "—"),
                     "%.1f" % (r["rss0"] / 1024), "%.1f" % (r["rss1"] / 1024),
                     r["rx0"], r["rx1"], "%.2f" % r["cpu"]])
    emit("## (a) {:,} exec'd code objects, 10 function identities "
         "(+ the module's)\n".format(n))
    emit(md(["interpreter", "map lines of the program", "map lines (all)",
             "jitdump CODE_LOADs", "RSS before MiB", "RSS after MiB",
             "r-x anon KiB before", "r-x anon KiB after", "CPU s"], rows))
    emit("")

    # (b)
    rows = []
    configs = [("ours off", [ours]), ("ours perf", [ours, "-X", "perf"]),
               ("ours perf_jit", [ours, "-X", "perf_jit"])]
    for v, e in others:
        configs += [("%s off" % v, [e]), ("%s perf" % v, [e, "-X", "perf"])]
    for label, argv in configs:
        r, ru, files = run_scale_child(argv, "distinct", n, env)
        f = files.get("map") or files.get("dump") or {}
        count = f.get("lines", f.get("records", "—"))
        rows.append([label, "%.3f" % r["first"], "%.3f" % r["second"],
                     "%.2f" % (ru.ru_utime + ru.ru_stime),
                     "%.1f" % (ru.ru_maxrss / 1024),
                     "%.2f" % (f["size"] / 2**20) if f else "—", count])
    emit("## (b) {:,} distinct functions, each called twice\n".format(n))
    emit(md(["interpreter", "1st pass CPU s", "2nd pass CPU s",
             "process CPU s", "peak RSS MiB", "map/dump MiB",
             "map lines / CODE_LOADs"], rows))
    emit("")

    # (c)
    rows = []
    for n in (100, 10_000, 100_000, 1_000_000):
        if n > limit:
            break
        cells = {}
        for label, argv in (("off", [ours]), ("perf", [ours, "-X", "perf"])):
            r, ru, files = run_scale_child(argv, "callcost", n, env)
            cells[label] = (r, ru)
        off, perf = cells["off"][0], cells["perf"][0]
        rows.append(["{:,}".format(n), "%.1f" % off["fixed_ns"],
                     "%.1f" % perf["fixed_ns"],
                     "%+.1f" % (perf["fixed_ns"] - off["fixed_ns"]),
                     "%.1f" % off["all_ns"], "%.1f" % perf["all_ns"],
                     "%.2f" % perf["setup"],
                     "%.0f" % (cells["off"][1].ru_maxrss / 1024),
                     "%.0f" % (cells["perf"][1].ru_maxrss / 1024)])
    emit("## (c) cost of a call vs number of functions with trampolines\n")
    emit("ns per call of one fixed function (loop overhead subtracted, best "
         "of 7 x 1M calls), and per call in passes over all N functions "
         "(at least 1M calls, loop overhead included); "
         "setup = creating and first-calling the N functions under perf.\n")
    emit(md(["N functions", "fixed off ns", "fixed perf ns", "perf - off ns",
             "all-N off ns", "all-N perf ns", "setup perf s",
             "peak RSS off MiB", "peak RSS perf MiB"], rows))
    path = os.path.join(bench_run.OUT, "scale-%s.md"
                        % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("scale: wrote " + path, file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child_main(sys.argv[2], int(sys.argv[3]))
    else:
        main()
