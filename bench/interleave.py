#!/usr/bin/env python3
"""make bench-interleaved: CPU-time ratios from finely interleaved runs.

Why.  On the shared 2-core VMs this project runs on, the speed of the
machine drifts by 30-50 % over seconds (other guests, the host), so the
per-process samples of bench/run.py (one launch of each mode per round,
half a second or more each) have a spread wider than the effects being
measured.  This runner keeps one persistent interpreter per mode
(bench/harness.py) and asks each in turn to run the workload once more,
a short run of about 50 ms, for many rounds: the runs of one round are
close together in time, so a ratio of two of them sees the same machine,
and the median over many rounds removes what is left.

Processes differ too.  Two interpreters of the same build doing the same
thing can run a few per cent apart for their whole life (measured here:
up to 6 %, and stable within each process; address-space layout is the
likely cause).  So the rounds are split into groups, and every group
starts a fresh interpreter per mode.  A second interpreter of the "off"
mode, "off-again", is measured like the others: its ratio to "off" is
the noise floor of the run and is printed with the results.

What.  For every workload of bench/run.py except the start-ups (which
need a process per sample: measure them with make bench or
bench-callgrind): the modes off / perf / perf_jit of the snapshot of
build/, pristine 3.11.2 (build-pristine/), and every other CPython >= 3.12
found, with and without -X perf.  Each mode's interpreter is started once
per workload, runs it twice as a warm-up (trampolines are created, caches
specialized), must give the same result line as the others, and -X modes
must report an active trampoline.  Then BENCH_ROUNDS rounds (default 40)
in BENCH_GROUPS groups (default 5) of fresh interpreters, the order of
the modes rotated by one each round.  A ratio is the median over all
rounds of the ratio of the two modes' times in the same round.

Knobs: BENCH_INTERLEAVED_ROUNDS (default 40), BENCH_GROUPS (default 5),
BENCH_SCALE (default 0.1),
BENCH_WORKLOADS, and --no-make / --no-others as in bench/run.py, whose
helpers this reuses.
Results go to bench/out/interleaved-*.md and .json.  This is a benchmark
that prints numbers, not a test.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: builds, modes, tables, goals)

HARNESS = os.path.join(run.BENCH, "harness.py")


class Child:
    """One persistent interpreter running bench/harness.py."""

    def __init__(self, mode, workload, env):
        self.mode = mode
        self.proc = subprocess.Popen(
            mode.argv + [HARNESS] + workload.argv(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, text=True)

    def run_once(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            run.die("bench: %s died: %s" % (self.mode.key, err.strip()[-500:]))
        cpu, _, result = line.rstrip("\n").partition(" ")
        if cpu == "error":
            run.die("bench: harness error in %s: %s" % (self.mode.key, result))
        return float(cpu), result

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        run.cleanup_tmp(self.proc.pid)
        if self.proc.returncode != 0 or err.strip():
            run.die("bench: %s exited with %s: %s"
                    % (self.mode.key, self.proc.returncode, err.strip()[-500:]))


def measure_group(workload, modes, rounds, first, env, samples):
    """One group: a fresh interpreter per mode, warmed up, then rounds."""
    children = [Child(m, workload, env) for m in modes]
    try:
        results = {}
        for c in children:
            for _ in range(2):
                _, results[c.mode.key] = c.run_once()
        if len(set(results.values())) != 1:
            run.die("bench: %s: modes disagree on the result: %r"
                    % (workload.name, results))
        for r in range(first, first + rounds):
            k = r % len(children)
            for c in children[k:] + children[:k]:
                cpu, _ = c.run_once()
                samples[c.mode.key].append(cpu)
    finally:
        for c in children:
            c.close()


def measure(workload, modes, rounds, groups, env):
    """rounds rounds in groups groups; every mode gets the same number of
    samples, and sample i of every mode comes from the same round."""
    samples = {m.key: [] for m in modes}
    done = 0
    for g in range(groups):
        n = (rounds - done) // (groups - g)
        if n:
            measure_group(workload, modes, n, done, env, samples)
            done += n
    return samples


def noise_line(res, names):
    """How far apart two interpreters of the same mode came out."""
    worst = max(((abs(res[n]["off-again/off"] - 1), n) for n in names
                 if res[n]["off-again/off"] is not None), default=None)
    if worst is None:
        return "- noise floor (off-again/off): not measured"
    return ("- noise floor (off-again/off): largest distance from 1.000 is "
            "%.3f (%s); differences smaller than that are not resolved by "
            "this run" % (worst[0], worst[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_INTERLEAVED_ROUNDS")
                                or 40))
    ap.add_argument("--groups", type=int,
                    default=int(os.environ.get("BENCH_GROUPS") or 5))
    ap.add_argument("--scale", type=float,
                    default=float(os.environ.get("BENCH_SCALE") or 0.1))
    ap.add_argument("--only", default=os.environ.get("BENCH_WORKLOADS", ""))
    ap.add_argument("--no-make", action="store_true")
    ap.add_argument("--no-others", action="store_true")
    args = ap.parse_args()

    workloads = [w for w in run.WORKLOADS if w.name not in run.STARTUPS]
    if args.only:
        want = args.only.split(",")
        workloads = [w for w in workloads if w.name in want]
        if not workloads:
            run.die("bench: no workload in %r (start-ups are not measured "
                    "here)" % args.only)

    run.ensure_pristine()
    stamp, snap = run.ensure_build(args.no_make)
    ours = os.path.join(snap, "python")
    pristine = os.path.join(run.PRISTINE, "python")
    flags = run.compare_flags(ours, pristine)
    run.say("bench: " + flags)
    env = run.clean_env(args.scale)
    others = [] if args.no_others else run.find_others()
    modes = run.check_active(run.make_modes(ours, pristine, others), env)
    # The noise floor: a second, independent interpreter of "off".
    modes.insert(1, run.Mode("off-again", [ours], "ours", True))
    keys = [m.key for m in modes]
    groups = max(1, min(args.groups, args.rounds))
    others = [(v, e) for v, e in others if v + "+perf" in keys]

    started = time.time()
    load0 = os.getloadavg()
    data = {}
    for w in workloads:
        t0 = time.time()
        data[w.name] = measure(w, modes, args.rounds, groups, env)
        run.say("bench: interleaved %-12s %d rounds x %d modes in %d groups "
                "in %.0f s (load %.2f)"
                % (w.name, args.rounds, len(modes), groups,
                   time.time() - t0, os.getloadavg()[0]))
    load1 = os.getloadavg()

    names = [w.name for w in workloads]
    res = {}
    rows = []
    for n in names:
        s = data[n]
        r = {"perf/off": run.paired_ratio(s, "perf", "off"),
             "perf_jit/off": run.paired_ratio(s, "perf_jit", "off"),
             "off/pristine": run.paired_ratio(s, "off", "pristine"),
             "off-again/off": run.paired_ratio(s, "off-again", "off")}
        for v, _ in others:
            r[v] = run.paired_ratio(s, v + "+perf", v)
        res[n] = r
        med = {k: statistics.median(v) for k, v in s.items()}
        rows.append([n] + ["%.1f" % (med[k] * 1000) for k in
                           ("off", "perf", "perf_jit", "pristine")]
                    + [run.fmt(r[k], ".3f") for k in
                       ("perf/off", "perf_jit/off", "off/pristine")]
                    + [run.fmt(r[v], ".3f") for v, _ in others]
                    + [run.fmt(r["off-again/off"], ".3f"),
                       "%.0f" % run.spread(s["off"])])
    res["geomean"] = {k: run.geomean([res[n][k] for n in names])
                      for k in ["perf/off", "perf_jit/off", "off/pristine",
                                "off-again/off"]
                      + [v for v, _ in others]}
    rows.append(["**geomean**", "", "", "", ""]
                + ["**%s**" % run.fmt(res["geomean"][k], ".3f") for k in
                   ("perf/off", "perf_jit/off", "off/pristine")]
                + ["**%s**" % run.fmt(res["geomean"][v], ".3f")
                   for v, _ in others]
                + ["**%s**" % run.fmt(res["geomean"]["off-again/off"], ".3f"),
                   ""])
    header = (["workload", "off ms", "perf ms", "perf_jit ms", "pristine ms",
               "perf/off", "perf_jit/off", "off/pristine"]
              + ["%s perf/off" % v for v, _ in others]
              + ["off-again/off (noise)", "off spread %"])

    meta = [
        "- date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "- machine: %s" % run.machine(),
        "- build/ inputs hash: %s" % stamp[:16],
        "- method: persistent interpreters (bench/harness.py), a fresh one "
        "per mode for each of %d groups; %d rounds of one run each, order "
        "rotated per round; ratio = median over rounds of the ratio within "
        "a round; times are medians; off-again is a second interpreter of "
        "off (the noise floor)" % (groups, args.rounds),
        "- scale: %s" % args.scale,
        "- flags: %s" % flags,
        "- load average (start, end): %.2f, %.2f" % (load0[0], load1[0]),
        "- duration s: %.0f" % (time.time() - started),
    ]
    text = ("# perf support benchmark (CPU time, interleaved)\n\n"
            + "\n".join(meta) + "\n\n" + run.md_table(header, rows)
            + "\n\nStart-ups are not measured here (see make bench and "
            "make bench-callgrind).\n\nGoals (bench/README.md; CPU time, "
            "interleaved):\n\n" + run.goals(res, names) + "\n"
            + noise_line(res, names) + "\n")
    print(text)
    os.makedirs(run.OUT, exist_ok=True)
    base = os.path.join(run.OUT, "interleaved-" +
                        time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)))
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"samples": data, "ratios": res,
                   "modes": keys}, f, indent=1)
    run.say("bench: wrote %s.md and %s.json" % (base, base))


if __name__ == "__main__":
    main()
