#!/usr/bin/env python3
"""Run CPython's whole test suite on two builds and compare the results.

Usage: check-full.py [options] PRISTINE_DIR PATCHED_DIR OUT_DIR

Each build directory holds a built tree (its ./python and Lib/test).  The
suite runs in each tree (`./python -m test -jN --timeout T --junit-xml ...`,
one build after the other), with the perf switches removed from the
environment, so the patched build runs with the feature off: "off means
off".  Results are compared at two levels:

* test modules: the summary lists of regrtest (OK, failed, altered the
  execution environment, skipped, resource denied, run no tests, omitted
  or crashed);
* test cases: the JUnit XML (passed, failure, error, skipped, expected
  failure), which catches a new failure inside a module that already fails
  on pristine for reasons of this environment.

A difference is re-run (both builds, the differing modules only,
sequentially) --rerun times; if a re-run agrees, it is reported as flaky
and does not count.  Test cases or modules that exist in one build only
(the patched build adds test_perf_profiler and tests in test_sys) count
only when they fail.

OUT_DIR receives pristine.log / patched.log, the XML files, and report.md;
the exit status is 1 if a difference remains, 0 otherwise.
"""

import argparse
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

PERF_ENV = ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT")

# regrtest summary headers -> module outcome
SECTIONS = [
    (re.compile(r"^(?:All )?\d+ tests? OK\.$"), "passed"),
    (re.compile(r"^\d+ tests? failed:$"), "failed"),
    (re.compile(r"^\d+ tests? altered the execution environment:$"),
     "env-changed"),
    (re.compile(r"^\d+ tests? skipped:$"), "skipped"),
    (re.compile(r"^\d+ tests? run no tests:$"), "no-tests"),
    (re.compile(r"^\d+ tests? omitted:$"), "omitted"),
    (re.compile(r"^\d+ re-run tests?:$"), None),
    (re.compile(r"^\d+ tests? failed again:$"), None),
]
# progress line: "0:01:05 load avg: 1.80 [ 51/405/1] test_tcl skipped ..."
PROGRESS = re.compile(r"\] (test_\w+|test\.\S+) (.*)$")


def progress_outcome(text):
    """The outcome in a progress line's text after the test name."""
    for prefix, outcome in (("passed", "passed"),
                            ("skipped (resource denied)", "resource-denied"),
                            ("skipped", "skipped"),
                            ("failed (env changed)", "env-changed"),
                            ("failed", "failed"),
                            ("crashed", "crashed"),
                            ("timed out", "timed-out"),
                            ("run no tests", "no-tests")):
        if text.startswith(prefix):
            return outcome
    return None


def parse_log(path):
    """Return {module: outcome} from a regrtest log: the progress lines
    (every module run, passed ones included), refined by the summary lists
    (which list every outcome but "OK")."""
    outcomes = {}
    progress = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    summary_start = None
    for i, line in enumerate(lines):
        if line.startswith("== Tests result:"):
            summary_start = i
        m = PROGRESS.search(line)
        if m:
            progress[m.group(1)] = m.group(2)
    if summary_start is None:
        raise SystemExit(f"{path}: no '== Tests result' summary; the run "
                         f"did not finish")
    for name, text in progress.items():
        outcome = progress_outcome(text)
        if outcome:
            outcomes[name] = outcome
    section = None
    for line in lines[summary_start:]:
        stripped = line.strip()
        if not stripped:
            continue
        for regex, name in SECTIONS:
            if regex.match(stripped):
                section = name or "ignore"
                if section == "passed":
                    section = "ignore"      # counted, not listed
                break
        else:
            if line.startswith("    ") and section is not None:
                if section != "ignore":
                    for name in stripped.split():
                        outcomes[name] = section
            else:
                section = None
    # Refine: resource denied vs skipped, timeouts vs failures.
    for name, outcome in outcomes.items():
        text = progress.get(name, "")
        if outcome == "skipped" and "resource denied" in text:
            outcomes[name] = "resource-denied"
        elif outcome == "failed" and "timed out" in text:
            outcomes[name] = "timed-out"
        elif outcome == "failed" and "crashed" in text:
            outcomes[name] = "crashed"
    return outcomes


def parse_xml(path):
    """Return {test case id: outcome} from a --junit-xml file."""
    cases = {}
    if not os.path.exists(path):
        return cases
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = case.get("name")
        if not name:
            continue
        tags = {child.tag for child in case}
        if "error" in tags:
            outcome = "error"
        elif "failure" in tags:
            outcome = "failure"
        elif "skipped" in tags:
            outcome = "skipped"
        elif "output" in tags:
            outcome = "expected-failure"
        else:
            outcome = "passed"
        # The same id twice (subtests of a case reported separately):
        # keep the worst.
        previous = cases.get(name)
        if previous in ("error", "failure"):
            continue
        cases[name] = outcome
    return cases


def case_module(case_id):
    # "test.test_os.FileTests.test_x" -> "test_os"; packages
    # ("test.test_asyncio.test_tasks....") -> "test_asyncio"
    parts = case_id.split(".")
    if parts[0] == "test" and len(parts) > 1:
        return parts[1]
    return parts[0]


def run_suite(build, out_base, tests, args, log_mode="w"):
    env = dict(os.environ)
    for name in PERF_ENV:
        env.pop(name, None)
    cmd = ["nice", "-n", str(args.nice), "./python", "-m", "test",
           f"-j{args.jobs}", "--timeout", str(args.timeout),
           "--junit-xml", out_base + ".xml"]
    if tests:
        cmd += list(tests)
    elif args.exclude:
        # regrtest's -x: run every test except the ones named.
        cmd += ["-x"] + list(args.exclude)
    start = time.monotonic()
    with open(out_base + ".log", log_mode) as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        subprocess.run(cmd, cwd=build, env=env, stdout=log,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return time.monotonic() - start


def compare(p_mod, q_mod, p_case, q_case):
    """Return (module diffs, case diffs) as lists of (name, p, q)."""
    bad = ("failed", "env-changed", "timed-out", "crashed", "omitted")
    mod_diffs = []
    for name in sorted(set(p_mod) | set(q_mod)):
        p, q = p_mod.get(name), q_mod.get(name)
        if p == q:
            continue
        if p is None and q not in bad:
            continue            # a module of the patch set, passing
        mod_diffs.append((name, p, q))
    case_diffs = []
    for name in sorted(set(p_case) | set(q_case)):
        p, q = p_case.get(name), q_case.get(name)
        if p == q:
            continue
        if p is None and q in ("passed", "skipped"):
            continue            # a test case of the patch set
        if q is None and p_mod.get(case_module(name)) != q_mod.get(
                case_module(name)):
            continue            # module-level difference reported already
        if p is None or q is None:
            # Present in one build only, but not because the patch set
            # added it: a module crashed or the case was not run.
            if p is None and q not in ("error", "failure"):
                continue
        case_diffs.append((name, p, q))
    return mod_diffs, case_diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pristine")
    parser.add_argument("patched")
    parser.add_argument("out")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--exclude", default="test_socket",
                        help="tests not to run, separated by spaces or "
                             "commas (default: test_socket)")
    parser.add_argument("--rerun", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--compare-only", action="store_true",
                        help="do not run; compare the existing logs")
    parser.add_argument("--reuse", choices=("pristine", "patched"),
                        action="append", default=[],
                        help="do not run the suite on this build; use its "
                             "log and XML from an earlier run in OUT")
    args = parser.parse_args()
    args.exclude = args.exclude.replace(",", " ").split()

    os.makedirs(args.out, exist_ok=True)
    builds = {"pristine": os.path.abspath(args.pristine),
              "patched": os.path.abspath(args.patched)}
    durations = {}
    if not args.compare_only:
        for label, build in builds.items():
            if label in args.reuse:
                print(f"check-full: reusing the results of {label}")
                continue
            print(f"check-full: running the suite on {label} ({build})",
                  flush=True)
            durations[label] = run_suite(
                build, os.path.join(args.out, label), (), args)
            print(f"check-full: {label} took {durations[label] / 60:.1f} "
                  f"min", flush=True)

    p_mod = parse_log(os.path.join(args.out, "pristine.log"))
    q_mod = parse_log(os.path.join(args.out, "patched.log"))
    p_case = parse_xml(os.path.join(args.out, "pristine.xml"))
    q_case = parse_xml(os.path.join(args.out, "patched.xml"))
    mod_diffs, case_diffs = compare(p_mod, q_mod, p_case, q_case)

    flaky = []
    for attempt in range(args.rerun):
        if not (mod_diffs or case_diffs):
            break
        names = sorted({n for n, _, _ in mod_diffs}
                       | {case_module(n) for n, _, _ in case_diffs})
        print(f"check-full: re-running {len(names)} differing module(s): "
              f"{' '.join(names)}", flush=True)
        rerun = {}
        for label, build in builds.items():
            base = os.path.join(args.out, f"{label}-rerun{attempt + 1}")
            run_suite(build, base, names, args)
            rerun[label] = (parse_log(base + ".log"), parse_xml(base + ".xml"))
        rp_mod, rp_case = rerun["pristine"]
        rq_mod, rq_case = rerun["patched"]
        r_mod_diffs, r_case_diffs = compare(rp_mod, rq_mod, rp_case, rq_case)
        still_mod = {n for n, _, _ in r_mod_diffs}
        still_case = {n for n, _, _ in r_case_diffs}
        for d in mod_diffs:
            if d[0] not in still_mod:
                flaky.append(("module",) + d)
        for d in case_diffs:
            if d[0] not in still_case and case_module(d[0]) in names:
                flaky.append(("case",) + d)
        mod_diffs = [d for d in mod_diffs if d[0] in still_mod]
        case_diffs = [d for d in case_diffs if d[0] in still_case]

    def by_outcome(mods, outcome):
        return sorted(n for n, o in mods.items() if o == outcome)

    lines = ["# check-full: CPython's test suite, pristine vs patched", ""]
    for label in builds:
        d = durations.get(label)
        lines.append(f"- {label}: `{builds[label]}`"
                     + (f", {d / 60:.1f} min" if d else ""))
    lines.append(f"- regrtest: `-j{args.jobs} --timeout {args.timeout}`"
                 + (f", excluded: {' '.join(args.exclude)}"
                    if args.exclude else ""))
    lines.append("")
    lines.append("| outcome | pristine | patched |")
    lines.append("| --- | ---: | ---: |")
    for outcome in ("passed", "failed", "env-changed", "timed-out",
                    "crashed", "skipped", "resource-denied", "no-tests",
                    "omitted"):
        a, b = by_outcome(p_mod, outcome), by_outcome(q_mod, outcome)
        if a or b:
            lines.append(f"| {outcome} | {len(a)} | {len(b)} |")
    lines.append(f"| test cases (XML) | {len(p_case)} | {len(q_case)} |")
    lines.append("")
    for outcome in ("failed", "env-changed", "timed-out", "crashed"):
        a = by_outcome(p_mod, outcome)
        if a:
            lines.append(f"Pristine {outcome}: {' '.join(a)}")
    only_patched = sorted(set(q_mod) - set(p_mod))
    if only_patched:
        lines.append(f"Modules only in the patched build: "
                     f"{', '.join(f'{n} ({q_mod[n]})' for n in only_patched)}")
    added = sorted(set(q_case) - set(p_case))
    lines.append(f"Test cases only in the patched build: {len(added)} "
                 f"({sum(q_case[n] == 'passed' for n in added)} passed, "
                 f"{sum(q_case[n] == 'skipped' for n in added)} skipped)")
    lines.append("")
    if flaky:
        lines.append("Differences that went away on re-run (flaky):")
        for kind, name, p, q in flaky:
            lines.append(f"- {kind} {name}: pristine {p}, patched {q}")
        lines.append("")
    if mod_diffs or case_diffs:
        lines.append("**DIFFERENCES** (pristine -> patched):")
        for name, p, q in mod_diffs:
            lines.append(f"- module {name}: {p} -> {q}")
        for name, p, q in case_diffs:
            lines.append(f"- case {name}: {p} -> {q}")
        lines.append("")
        lines.append("Result: DIFFERENT")
    else:
        lines.append("Result: no difference")
    report = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(report)
    print(report)
    return 1 if (mod_diffs or case_diffs) else 0


if __name__ == "__main__":
    sys.exit(main())
