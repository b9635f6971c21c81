#!/usr/bin/env python3
"""make bench: the cost of perf support, measured side by side.

Interpreters ("modes"):
  off       build/python                  (the feature compiled in, not on)
  perf      build/python -X perf
  perf_jit  build/python -X perf_jit
  pristine  build-pristine/python         (3.11.2 without the patch set,
                                           built with the same flags)
and, for comparison, every other CPython >= 3.12 found on the machine
(PATH and /root/.pyenv/versions/*/bin/python3), with and without -X perf.

Time mode (default): every workload runs once per mode per round, modes in
alternation, the order rotated each round; a sample is the CPU time (user +
system) of the child, from getrusage(RUSAGE_CHILDREN) deltas.  The table
gives the median CPU seconds per mode and, for each ratio, the median over
rounds of the ratio of the two runs of the same round (adjacent runs share
the machine's conditions).  Start-up rows time a batch of launches.

Callgrind mode (--callgrind, BENCH_MODE=callgrind): one run per mode under
valgrind --tool=callgrind at a smaller size (BENCH_SCALE), in instructions.
"raw" ratios include start-up; "net" ratios subtract each mode's own
`-c pass` count, so they are the ratios of the workload itself.

The runner measures a hard-linked snapshot of build/ (bench/out/snap-*/), so
that a rebuild of build/ by someone else cannot change the interpreter in
the middle of a run.  Everything written to /tmp by the children
(/tmp/perf-PID.map, /tmp/jit-PID.dump, /tmp/jitted-PID-*.so) is removed
after each run.  Results go to stdout and to bench/out/.
"""

import argparse
import glob
import json
import math
import os
import platform
import resource
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORKDIR = os.path.join(BENCH, "workloads")
OUT = os.path.join(BENCH, "out")
PRISTINE = os.path.join(REPO, "build-pristine")


class Workload:
    def __init__(self, name, args, repeat, what):
        self.name = name
        self.args = args        # after the interpreter and its options
        self.repeat = repeat    # launches per time sample
        self.what = what

    def argv(self):
        return [os.path.join(WORKDIR, a) if a.endswith(".py") else a
                for a in self.args]


WORKLOADS = [
    Workload("fib", ["fib.py"], 1, "recursive fib, Python calls only"),
    Workload("methods", ["methods.py"], 1, "method dispatch on a tree of objects"),
    Workload("closures", ["closures.py"], 1, "closures, lambdas from C (map, sorted key)"),
    Workload("generators", ["generators.py"], 1, "generator pipelines consumed"),
    Workload("coroutines", ["coroutines.py"], 1, "asyncio.run of many awaits"),
    Workload("mixed", ["mixed.py"], 1, "json, re, dataclasses, sorting"),
    Workload("loop", ["loop.py"], 1, "tight loop, few calls"),
    Workload("sort", ["sort.py"], 1, "list.sort, few calls"),
    Workload("startup", ["-c", "pass"], 30, "start-up: -c pass (x30)"),
    Workload("startup_imports", ["startup_imports.py"], 5,
             "start-up importing 19 stdlib modules (x5)"),
]
STARTUP = "startup"
# Longest a single child may run (callgrind runs take up to ~2 minutes).
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "900"))
STARTUPS = ("startup", "startup_imports")


class Mode:
    def __init__(self, key, argv, group, ours):
        self.key = key
        self.argv = argv
        self.group = group      # interpreter label
        self.ours = ours        # one of our four modes


def say(*args):
    print(*args, file=sys.stderr, flush=True)


def die(msg):
    say("bench: error: " + msg)
    sys.exit(1)


# ---------------------------------------------------------------------
# Preparing the interpreters

def build_busy():
    """Processes (other than us) working inside build/, e.g. a rebuild."""
    build = os.path.realpath(os.path.join(REPO, "build"))
    busy = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cwd = os.readlink(d + "/cwd")
        except OSError:
            continue
        if cwd == build or cwd.startswith(build + "/"):
            busy.append(int(os.path.basename(d)))
            continue
        # tools/build.sh itself runs in the repository (it extracts and
        # patches before anything runs inside build/).
        try:
            with open(d + "/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cwd == REPO and any(a.endswith(b"tools/build.sh") for a in cmd):
            busy.append(int(os.path.basename(d)))
    return busy


def ensure_build(skip_make):
    waited = 0
    while build_busy():
        if waited == 0:
            say("bench: build/ is being rebuilt by someone else; waiting")
        time.sleep(15)
        waited += 15
        if waited > 3600:
            die("build/ has been busy for an hour")
    if not skip_make:
        say("bench: make (build/)")
        r = subprocess.run(["make", "-C", REPO, "all"],
                           stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            die("make failed")
    if not os.access(os.path.join(REPO, "build", "python"), os.X_OK):
        die("build/python is missing")
    # A hard-linked copy: a rebuild replaces files, it does not rewrite
    # these inodes.  One snapshot per build, shared by concurrent runs.
    with open(os.path.join(REPO, "build", ".perf311-built")) as f:
        stamp = f.read().strip()
    snap = os.path.join(OUT, "snap-" + stamp[:16])
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(os.path.join(snap, ".perf311-built")):
        tmp = "%s.tmp-%d" % (snap, os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["cp", "-al", os.path.join(REPO, "build"), tmp],
                       check=True)
        with open(os.path.join(tmp, ".perf311-built")) as f:
            if f.read().strip() != stamp:
                die("build/ changed while it was being copied")
        try:
            os.rename(tmp, snap)
        except OSError:         # another run made it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    os.utime(snap)
    # Snapshots of older builds, unused for 12 hours and not running.
    in_use = set()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            in_use.add(os.readlink(d + "/exe"))
        except OSError:
            pass
    for old in glob.glob(os.path.join(OUT, "snap-*")):
        if old == snap or ".tmp-" in old or \
                time.time() - os.path.getmtime(old) < 12 * 3600 or \
                any(e.startswith(old + "/") for e in in_use):
            continue
        shutil.rmtree(old, ignore_errors=True)
    return stamp, snap


def ensure_pristine():
    say("bench: tools/bench-pristine.sh (build-pristine/)")
    r = subprocess.run([os.path.join(REPO, "tools", "bench-pristine.sh")])
    if r.returncode != 0:
        die("building build-pristine/ failed")


def query(argv, code, env=None, timeout=60):
    """stdout of argv -c code, stripped, or None if it failed."""
    try:
        p = subprocess.Popen(argv + ["-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, text=True)
    except OSError:
        return None
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None
    finally:
        cleanup_tmp(p.pid)
    return out.strip() if p.returncode == 0 else None


FLAGS_CODE = ("import sysconfig as s; print(repr([s.get_config_var(v) for v "
              "in ('CC', 'OPT', 'CFLAGS', 'PY_CFLAGS_NODIST', 'LDFLAGS', "
              "'CONFIG_ARGS')]))")


def compare_flags(ours, pristine):
    a = query([ours], FLAGS_CODE)
    b = query([pristine], FLAGS_CODE)
    if a is None or b is None:
        return "could not read the build flags"
    if a == b:
        return "build flags identical: " + a
    return "BUILD FLAGS DIFFER:\n  ours:     %s\n  pristine: %s" % (a, b)


def find_others():
    """Other CPythons >= 3.12: (label, real executable), by version."""
    cands = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        for name in ["python3"] + ["python3.%d" % m for m in range(12, 20)]:
            p = os.path.join(d or ".", name)
            if os.access(p, os.X_OK):
                cands.append(p)
    cands += sorted(glob.glob("/root/.pyenv/versions/*/bin/python3"))
    code = ("import sys, os; v = sys.version_info; "
            "print(v[0], v[1], sys.version.split()[0], "
            "os.path.realpath(sys.executable))")
    found = {}
    env = clean_env()
    for c in cands:
        out = query([c], code, env=env, timeout=30)
        if not out:
            continue
        major, minor, version, exe = out.split(None, 3)
        if (int(major), int(minor)) < (3, 12) or exe in found.values():
            continue
        if query([exe, "-X", "perf"], "import sys; "
                 "print(sys.is_stack_trampoline_active())", env=env) != "True":
            say("bench: %s: -X perf not supported, skipped" % exe)
            continue
        found.setdefault(version, exe)
    return sorted(found.items(), key=lambda kv: [int(x) if x.isdigit() else x
                                                 for x in kv[0].split(".")])


def clean_env(scale=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON") and k not in ("BENCH_SCALE",)}
    env["PYTHONHASHSEED"] = "0"
    if scale is not None:
        env["BENCH_SCALE"] = str(scale)
    return env


def make_modes(ours, pristine, others):
    modes = [Mode("off", [ours], "ours", True),
             Mode("perf", [ours, "-X", "perf"], "ours", True),
             Mode("perf_jit", [ours, "-X", "perf_jit"], "ours", True),
             Mode("pristine", [pristine], "pristine", True)]
    for version, exe in others:
        modes.append(Mode(version, [exe], version, False))
        modes.append(Mode(version + "+perf", [exe, "-X", "perf"], version, False))
    return modes


def check_active(modes, env):
    """Each -X mode must really turn support on; return the ones that do.
    Three tries: a stale /tmp/jit-PID.dump left by an earlier process with
    the same pid makes the jitdump backend refuse to start (by design)."""
    good = []
    code = "import sys; print(sys.is_stack_trampoline_active())"
    for m in modes:
        if "-X" in m.argv:
            for _ in range(3):
                p = subprocess.Popen(m.argv + ["-c", code], env=env, text=True,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                out, err = p.communicate()
                cleanup_tmp(p.pid)
                if out.strip() == "True":
                    break
                say("bench: %s: support did not activate: %s"
                    % (m.key, (err.strip() or out.strip())[-300:]))
            else:
                say("bench: %s: mode dropped" % m.key)
                continue
        good.append(m)
    return good


# ---------------------------------------------------------------------
# Running

def cleanup_tmp(pid):
    """Remove what child pid wrote in /tmp: regular files only (anything
    else at those paths was put there by someone else)."""
    for p in ["/tmp/perf-%d.map" % pid, "/tmp/jit-%d.dump" % pid] + \
            glob.glob("/tmp/jitted-%d-*.so" % pid):
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                os.unlink(p)
        except OSError:
            pass


def run_child(argv, env):
    """Run argv; return (cpu seconds, stdout, stderr, returncode)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, cwd=WORKDIR)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # E.g. a FIFO left at /tmp/perf-PID.map by someone else: opening
        # it for writing blocks.  Report it as a failed run.
        p.kill()
        out, err = p.communicate()
        err += ("\nbench: killed after %d s" % TIMEOUT).encode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        cleanup_tmp(p.pid)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, out.decode(errors="replace"), err.decode(errors="replace"), \
        p.returncode


class Checker:
    """Every mode must print what the first mode printed, exit 0 and write
    nothing to stderr (a warning there would mean, e.g., a backend that did
    not start)."""

    def __init__(self):
        self.expected = {}
        self.problems = []

    def problem(self, w, out, err, rc):
        if rc != 0:
            return "exit status %d: %s" % (rc, err.strip()[-300:])
        if err.strip():
            return "stderr: " + err.strip()[-300:]
        exp = self.expected.setdefault(w.name, out)
        if out != exp:
            return "output %r, expected %r" % (out.strip()[:80],
                                               exp.strip()[:80])
        return None

    def note(self, text):
        if text not in self.problems:
            say("bench: warning: " + text)
            self.problems.append(text)

    def run(self, w, m, env, argv=None):
        """Run w under m (or argv); (cpu, out).  A run that fails (exit
        status, stderr, timeout) is retried twice with a new pid; if it
        still fails, that is fatal for our modes and a warning for other
        interpreters, as is a different result line from another
        interpreter."""
        argv = argv or (m.argv + w.argv())
        for attempt in range(3):
            cpu, out, err, rc = run_child(argv, env)
            msg = self.problem(w, out, err, rc)
            if msg is None:
                return cpu, out
            text = "%s under %s: %s" % (w.name, m.key, msg)
            transient = rc != 0 or err.strip()
            if not m.ours and not transient:
                self.note(text)
                return cpu, out
            self.note(text + (" (retried)" if attempt < 2 else ""))
        if m.ours:
            die(text)
        return cpu, out


def time_sample(w, m, env, checker):
    total = 0.0
    for _ in range(w.repeat):
        cpu, _ = checker.run(w, m, env)
        total += cpu
    return total


def run_time(workloads, modes, rounds, env):
    checker = Checker()
    samples = {w.name: {m.key: [] for m in modes} for w in workloads}
    say("bench: warm-up (and output check), one run per workload and mode")
    for w in workloads:
        for m in modes:
            checker.run(w, m, env)
    n = len(modes)
    for r in range(rounds):
        t0 = time.time()
        for w in workloads:
            order = modes[r % n:] + modes[:r % n]
            for m in order:
                samples[w.name][m.key].append(time_sample(w, m, env, checker))
        say("bench: round %d/%d done in %.0f s (load %.2f)"
            % (r + 1, rounds, time.time() - t0, os.getloadavg()[0]))
    return samples, checker.problems


def callgrind_count(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError("no totals in " + path)


def run_callgrind(workloads, modes, env, cgdir):
    checker = Checker()
    counts = {w.name: {} for w in workloads}
    os.makedirs(cgdir, exist_ok=True)
    # Natively first: the first run of a module writes its .pyc, which
    # must not be counted against whichever mode happens to run first.
    say("bench: warm-up (and output check), one native run per workload and mode")
    for w in workloads:
        for m in modes:
            checker.run(w, m, env)
    for w in workloads:
        for m in modes:
            outfile = os.path.join(cgdir, "%s.%s.out" % (w.name, m.key))
            argv = ["valgrind", "--tool=callgrind", "--quiet",
                    "--callgrind-out-file=" + outfile] + m.argv + w.argv()
            t0 = time.time()
            checker.run(w, m, env, argv)
            counts[w.name][m.key] = callgrind_count(outfile)
            say("bench: callgrind %-16s %-12s %14d Ir  (%.0f s)"
                % (w.name, m.key, counts[w.name][m.key], time.time() - t0))
    return counts, checker.problems


# ---------------------------------------------------------------------
# Tables

def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def paired_ratio(samples, a, b):
    xs, ys = samples.get(a), samples.get(b)
    if not xs or not ys:
        return None
    return statistics.median(x / y for x, y in zip(xs, ys))


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:"
                            for i in range(len(header))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def ratios_time(samples, workloads, others):
    """{workload: {ratio name: value}} plus a geomean entry."""
    res = {}
    for w in workloads:
        s = samples[w.name]
        r = {"perf/off": paired_ratio(s, "perf", "off"),
             "perf_jit/off": paired_ratio(s, "perf_jit", "off"),
             "off/pristine": paired_ratio(s, "off", "pristine")}
        for version, _ in others:
            r[version] = paired_ratio(s, version + "+perf", version)
        res[w.name] = r
    return res


def with_geomean(res, names):
    keys = next(iter(res.values())).keys() if res else []
    res["geomean"] = {k: geomean([res[n][k] for n in names]) for k in keys}
    return res


def spread(xs):
    if not xs or len(xs) < 2:
        return None
    return (max(xs) - min(xs)) / statistics.median(xs) * 100


def tables_time(samples, workloads, others, modes):
    names = [w.name for w in workloads]
    res = with_geomean(ratios_time(samples, workloads, others), names)
    mkeys = [m.key for m in modes if m.ours]
    header = ["workload"] + ["%s s" % k for k in mkeys] + \
        ["perf/off", "perf_jit/off", "off/pristine", "off spread %"]
    rows = []
    for w in workloads:
        s = samples[w.name]
        rows.append([w.name] +
                    [fmt(statistics.median(s[k]) if s.get(k) else None, ".3f")
                     for k in mkeys] +
                    [fmt(res[w.name][k], ".3f")
                     for k in ("perf/off", "perf_jit/off", "off/pristine")] +
                    [fmt(spread(s.get("off")), ".1f")])
    g = res["geomean"]
    rows.append(["**geomean**"] +
                [fmt(geomean([statistics.median(samples[n][k]) for n in names
                              if samples[n].get(k)]), ".3f") for k in mkeys] +
                ["**%s**" % fmt(g[k], ".3f")
                 for k in ("perf/off", "perf_jit/off", "off/pristine")] + [""])
    text = md_table(header, rows)
    if others:
        header = ["workload", "ours perf/off"]
        for version, _ in others:
            header += ["%s s" % version, "%s+perf s" % version,
                       "%s perf/off" % version]
        rows = []
        for n in names + ["geomean"]:
            row = [n, fmt(res[n]["perf/off"], ".3f")]
            for version, _ in others:
                if n == "geomean":
                    row += ["", ""]
                else:
                    row += [fmt(statistics.median(samples[n][version]), ".3f"),
                            fmt(statistics.median(samples[n][version + "+perf"]),
                                ".3f")]
                row.append(fmt(res[n][version], ".3f"))
            rows.append(row)
        text += "\n\nOther CPythons on this machine, `-X perf` over the same " \
                "interpreter without it (same run):\n\n" + md_table(header, rows)
    else:
        text += "\n\nNo other CPython >= 3.12 was found on this machine."
    return text, res


def ratios_callgrind(counts, workloads, others):
    res = {}
    base = counts.get(STARTUP, {})

    def net(w, k):
        if w == STARTUP or k not in counts[w] or k not in base:
            return None
        return counts[w][k] - base[k]

    def div(a, b):
        return None if a is None or b is None or b <= 0 else a / b

    pairs = [("perf/off", "perf", "off"), ("perf_jit/off", "perf_jit", "off"),
             ("off/pristine", "off", "pristine")]
    pairs += [(v, v + "+perf", v) for v, _ in others]
    for w in workloads:
        c = counts[w.name]
        r = {}
        for name, a, b in pairs:
            r["raw " + name] = div(c.get(a), c.get(b))
            r["net " + name] = div(net(w.name, a), net(w.name, b))
        # The goals use the workload's own cost: net for workloads, raw
        # for the start-ups (for -c pass the net is nothing).
        for name, a, b in pairs:
            r[name] = r["raw " + name] if w.name in STARTUPS else r["net " + name]
        res[w.name] = r
    return res


def tables_callgrind(counts, workloads, others, modes):
    names = [w.name for w in workloads]
    res = with_geomean(ratios_callgrind(counts, workloads, others), names)
    mkeys = [m.key for m in modes if m.ours]
    rk = ["perf/off", "perf_jit/off", "off/pristine"]
    header = ["workload"] + ["%s MIr" % k for k in mkeys] + \
        ["raw " + k for k in rk] + ["net " + k for k in rk]
    rows = []
    for n in names + ["geomean"]:
        if n == "geomean":
            row = ["**geomean**"] + [""] * len(mkeys)
        else:
            row = [n] + [fmt(counts[n].get(k, 0) / 1e6, ".1f") for k in mkeys]
        row += [fmt(res[n]["raw " + k], ".4f") for k in rk]
        row += [fmt(res[n]["net " + k], ".4f") for k in rk]
        rows.append(row)
    text = md_table(header, rows)
    if others:
        header = ["workload", "ours net perf/off"]
        for version, _ in others:
            header += ["%s MIr" % version, "%s+perf MIr" % version,
                       "%s raw" % version, "%s net" % version]
        rows = []
        for n in names + ["geomean"]:
            row = [n, fmt(res[n]["net perf/off"], ".4f")]
            for version, _ in others:
                if n == "geomean":
                    row += ["", ""]
                else:
                    row += [fmt(counts[n][version] / 1e6, ".1f"),
                            fmt(counts[n][version + "+perf"] / 1e6, ".1f")]
                row += [fmt(res[n]["raw " + version], ".4f"),
                        fmt(res[n]["net " + version], ".4f")]
            rows.append(row)
        text += "\n\nOther CPythons on this machine, `-X perf` over the same " \
                "interpreter without it (instructions):\n\n" + md_table(header, rows)
    else:
        text += "\n\nNo other CPython >= 3.12 was found on this machine."
    return text, res


def extra_table(data, workloads, modes, ratios, callgrind):
    """Medians of the --extra modes and the --ratio ratios (paired medians
    in time mode; net instruction ratios in callgrind mode, raw for the
    start-ups)."""
    extras = [m.key for m in modes if m.group == "extra"]
    unit = "MIr" if callgrind else "s"
    header = ["workload"] + ["%s %s" % (k, unit) for k in extras] + ratios
    rows = []
    per = {}
    for w in workloads:
        d = data[w.name]
        row = [w.name]
        for k in extras:
            row.append(fmt(d[k] / 1e6, ".1f") if callgrind
                       else fmt(statistics.median(d[k]), ".3f"))
        for r in ratios:
            a, _, b = r.partition("/")
            if callgrind:
                base = data.get(STARTUP, {})
                if w.name in STARTUPS:
                    v = d[a] / d[b]
                else:
                    v = (d[a] - base[a]) / (d[b] - base[b])
            else:
                v = paired_ratio(d, a, b)
            per.setdefault(r, []).append(v)
            row.append(fmt(v, ".4f" if callgrind else ".3f"))
        rows.append(row)
    rows.append(["**geomean**"] + [""] * len(extras) +
                [fmt(geomean(per.get(r, [])), ".4f" if callgrind else ".3f")
                 for r in ratios])
    return "Extra modes and ratios:\n\n" + md_table(header, rows)


def goals(res, names):
    """The performance goals (bench/README.md), checked against a ratio
    table."""
    lines = []

    def check(label, value, limit, extra=""):
        if value is None:
            lines.append("- %s: not measured" % label)
            return
        ok = value <= limit
        lines.append("- %s: %.3f (goal <= %.2f) **%s**%s"
                     % (label, value, limit, "holds" if ok else "FAILS", extra))

    def get(n, k):
        return res[n][k] if n in res else None

    check("fib perf/off", get("fib", "perf/off"), 1.20)
    for n in ("methods", "generators"):
        check("%s perf/off" % n, get(n, "perf/off"), 1.03)
    for n in ("loop", "sort"):
        check("%s (few calls) perf/off" % n, get(n, "perf/off"), 1.02)
    check("geomean perf/off", res["geomean"]["perf/off"], 1.05)
    diffs = [(abs(res[n]["perf_jit/off"] - res[n]["perf/off"]), n)
             for n in names
             if res[n]["perf_jit/off"] is not None and res[n]["perf/off"] is not None]
    if diffs:
        d, n = max(diffs)
        lines.append("- perf_jit within 0.03 of perf: largest difference %.3f "
                     "(%s) **%s**" % (d, n, "holds" if d <= 0.03 else "FAILS"))
    else:
        lines.append("- perf_jit within 0.03 of perf: not measured")
    worst = max(((res[n]["off/pristine"], n) for n in names
                 if res[n]["off/pristine"] is not None), default=None)
    check("off/pristine geomean", res["geomean"]["off/pristine"], 1.01,
          "" if worst is None else " (largest: %s %.3f)" % (worst[1], worst[0]))
    for n in STARTUPS:
        check("%s perf/off" % n, get(n, "perf/off"), 1.10)
    return "\n".join(lines)


# ---------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "nproc %d, %s, Linux %s" % (os.cpu_count(), model, platform.release())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--callgrind", action="store_true",
                    default=os.environ.get("BENCH_MODE") == "callgrind",
                    help="count instructions with callgrind instead of timing")
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_ROUNDS", "5")))
    ap.add_argument("--scale", type=float, default=None,
                    help="workload size factor (BENCH_SCALE; default 1 for "
                    "time, 0.05 for callgrind)")
    ap.add_argument("--only", default=os.environ.get("BENCH_WORKLOADS", ""),
                    help="comma-separated workload names (BENCH_WORKLOADS)")
    ap.add_argument("--no-make", action="store_true",
                    help="do not run make for build/ (use it as it is)")
    ap.add_argument("--no-others", action="store_true",
                    help="skip other CPython versions")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=CMD",
                    help="also measure the interpreter command CMD (e.g. a "
                    "candidate build) as mode NAME; repeatable")
    ap.add_argument("--ratio", action="append", default=[], metavar="A/B",
                    help="report the ratio of modes A and B (any modes, "
                    "including --extra ones); repeatable")
    args = ap.parse_args()

    scale = args.scale
    if scale is None:
        scale = float(os.environ.get("BENCH_SCALE") or
                      (0.05 if args.callgrind else 1))
    workloads = WORKLOADS
    if args.only:
        want = args.only.split(",")
        workloads = [w for w in WORKLOADS if w.name in want]
        unknown = set(want) - {w.name for w in workloads}
        if unknown:
            die("unknown workloads: %s" % ", ".join(sorted(unknown)))
        if args.callgrind and STARTUP not in want:
            workloads = [w for w in WORKLOADS if w.name == STARTUP] + workloads
    if args.callgrind and not shutil.which("valgrind"):
        die("valgrind is not installed")

    ensure_pristine()
    stamp, snap = ensure_build(args.no_make)
    ours = os.path.join(snap, "python")
    pristine = os.path.join(PRISTINE, "python")
    flags = compare_flags(ours, pristine)
    say("bench: " + flags)

    env = clean_env(scale)
    others = [] if args.no_others else find_others()
    modes = check_active(make_modes(ours, pristine, others), env)
    dropped = [k for k in ("off", "perf", "perf_jit", "pristine")
               if k not in [m.key for m in modes]]
    others = [(v, e) for v, e in others
              if v + "+perf" in [m.key for m in modes]]
    modes = [m for m in modes if m.ours or m.group in [v for v, _ in others]]
    for spec in args.extra:
        name, _, cmd = spec.partition("=")
        if not name or not cmd:
            die("--extra wants NAME=COMMAND, got %r" % spec)
        modes.append(Mode(name, shlex.split(cmd), "extra", False))
    for r in args.ratio:
        a, _, b = r.partition("/")
        if a not in [m.key for m in modes] or b not in [m.key for m in modes]:
            die("--ratio %s: unknown mode" % r)

    stamp_time = time.strftime("%Y%m%d-%H%M%S")
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    load0 = os.getloadavg()
    t0 = time.time()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "repo HEAD": head,
        "build/ inputs hash": stamp[:16],
        "mode": "callgrind" if args.callgrind else "time",
        "scale": scale,
        "rounds": "one run per mode" if args.callgrind else args.rounds,
        "interpreters": {m.key: " ".join(m.argv) for m in modes},
        "flags": flags,
    }
    if args.callgrind:
        cgdir = os.path.join(OUT, "callgrind-" + stamp_time)
        data, problems = run_callgrind(workloads, modes, env, cgdir)
        table, res = tables_callgrind(data, workloads, others, modes)
        meta["callgrind files"] = cgdir
    else:
        data, problems = run_time(workloads, modes, args.rounds, env)
        table, res = tables_time(data, workloads, others, modes)
    meta["load average (start, end)"] = "%.2f, %.2f" % (load0[0],
                                                        os.getloadavg()[0])
    meta["duration s"] = round(time.time() - t0)

    lines = ["# perf support benchmark (%s)" % meta["mode"], ""]
    for k, v in meta.items():
        if k == "interpreters":
            for mk, mv in v.items():
                lines.append("- interpreter %s: `%s`" % (mk, mv))
        else:
            lines.append("- %s: %s" % (k, v))
    if dropped:
        lines.append("- modes that did not activate (dropped): " +
                     ", ".join(dropped))
    for p in problems:
        lines.append("- warning: " + p)
    if args.extra or args.ratio:
        table += "\n\n" + extra_table(data, workloads, modes, args.ratio,
                                      args.callgrind)
    lines += ["", table, "", "Goals (bench/README.md; %s):" %
              ("instructions; net ratios for workloads, raw for start-ups, "
               "and the geomean over those" if args.callgrind
               else "CPU time, median of paired ratios"),
              "", goals(res, [w.name for w in workloads])]
    text = "\n".join(lines) + "\n"
    print(text)
    base = os.path.join(OUT, "%s-%s" % (meta["mode"], stamp_time))
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "data": data, "ratios": res,
                   "problems": problems}, f, indent=1, sort_keys=True)
    say("bench: wrote %s.md and %s.json" % (base, base))


if __name__ == "__main__":
    main()
