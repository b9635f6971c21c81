"""End-to-end check of the jitdump backend with this machine's perf.

    python3 tests/perf_jit_e2e.py PYTHON [PYTHON...]

For each interpreter: run examples/perf_demo.py (baz -> bar -> foo),
copied as my_script.py, under `perf record -g -k 1 --call-graph dwarf`
with -X perf_jit, merge the dump with `perf inject --jit`, then check
with `perf script` that at least 80 % of the samples inside py::foo show
the whole chain foo < bar < baz < <module>, and with `perf report --sort
sym,srcline` that the trampoline frames carry my_script.py:<line>.
Meant to be run on an interpreter built --without-frame-pointers (DWARF
unwinding is then the only way through) and on the default build.
Prints numbers and exits 1 on any failure, 77 if perf cannot record
here.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The program profiled: the demo of `make demo`, run longer.
DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), "examples", "perf_demo.py")
DEMO_COUNT = "4000000"
CHAIN = ["py::foo", "py::bar", "py::baz", "py::<module>"]


def first_lines(path):
    """The first line (co_firstlineno) of each top-level function."""
    lines = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            m = re.match(r"def (\w+)\(", line)
            if m:
                lines[m.group(1)] = number
    return lines


def run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kwargs)


def perf_usable(tmp):
    if shutil.which("perf") is None:
        return "perf is not installed"
    data = os.path.join(tmp, "probe.data")
    proc = run(["perf", "record", "-e", "cpu-clock", "-o", data, "--",
                "true"])
    if proc.returncode != 0:
        return "perf cannot record here: " + proc.stderr.strip()[-200:]
    return None


def samples(script_output):
    """Yield each sample's list of symbol names, leaf first."""
    frames = []
    for line in script_output.splitlines():
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if line.startswith((" ", "\t")):
            parts = line.split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1].split(" (")[0].split("+0x")[0])
    if frames:
        yield frames


def check(python, tmp):
    failures = []
    workdir = tempfile.mkdtemp(dir=tmp)
    script = os.path.join(workdir, "my_script.py")
    shutil.copyfile(DEMO, script)
    data = os.path.join(workdir, "perf.data")
    jit_data = os.path.join(workdir, "perf.jit.data")
    buildid_dir = os.path.join(workdir, "buildid")
    base = ["perf", "--buildid-dir", buildid_dir]
    # The child removes a stale dump of its own pid before it starts.
    wrapper = ('rm -f /tmp/jit-$$.dump; exec "$0" -X perf_jit "$@"')
    proc = run(base + ["record", "-F", "999", "-g", "-k", "1",
                       "--call-graph", "dwarf", "-e", "cpu-clock",
                       "-o", data, "--", "sh", "-c", wrapper, python,
                       script, DEMO_COUNT], cwd=workdir)
    if proc.returncode != 0:
        return ["perf record failed: " + proc.stderr[-500:]]
    pids = set(re.findall(r"jit-(\d+)\.dump", run(
        base + ["script", "-i", data, "--show-mmap-events"]).stdout))
    try:
        proc = run(base + ["inject", "--jit", "-i", data, "-o", jit_data],
                   cwd=workdir)
        if proc.returncode != 0:
            return ["perf inject failed: " + proc.stderr[-500:]]
        out = run(base + ["script", "-i", jit_data, "-F", "ip,sym"]).stdout
        in_foo = full = 0
        for frames in samples(out):
            py = [f for f in frames if f.startswith("py::")]
            # "py::<qualname>:<filename>" -> "py::<qualname>"
            names = ["py::" + f[4:].split(":", 1)[0] for f in py]
            if not names or names[0] != "py::foo":
                continue
            in_foo += 1
            if names[:4] == CHAIN:
                full += 1
        share = full / in_foo if in_foo else 0.0
        print(f"  {python}: {in_foo} samples in py::foo, {full} with the "
              f"full chain ({share:.0%})")
        if in_foo < 20:
            failures.append(f"only {in_foo} samples inside py::foo")
        elif share < 0.8:
            failures.append(f"full chain in {share:.0%} of py::foo samples")

        report = run(base + ["report", "-i", jit_data, "--stdio",
                             "--children", "-g", "none", "--sort",
                             "sym,srcline"],
                     ).stdout
        for name, line in first_lines(DEMO).items():
            want = f"my_script.py:{line}"
            rows = [r for r in report.splitlines()
                    if f"py::{name}:" in r and want in r]
            print(f"  srcline of py::{name}: "
                  f"{'found ' + want if rows else 'missing'}")
            if not rows:
                failures.append(f"no srcline {want} for py::{name}")
    finally:
        for pid in pids:
            for leftover in (f"/tmp/jit-{pid}.dump",):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            for name in os.listdir("/tmp"):
                if name.startswith(f"jitted-{pid}-"):
                    os.unlink(os.path.join("/tmp", name))
    return failures


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        reason = perf_usable(tmp)
        if reason:
            print("SKIP:", reason)
            return 77
        failed = 0
        for python in argv[1:]:
            python = os.path.abspath(python)
            print(f"{python}:")
            failures = check(python, tmp)
            for failure in failures:
                print("  FAIL:", failure)
            failed += bool(failures)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
