"""Robustness and security of the perf support (issue 6).

Hostile input, a hostile or failing /tmp, resource exhaustion, threads,
subinterpreters, fork storms and coexistence with other tools.  Whatever
happens, the interpreter keeps working, forges nothing, tears nothing and
says clearly what went wrong.  CPython's own test_perf_profiler (run by
make test as well) covers the basics; this file covers what it does not:
both backends for every hostile name, every kind of hostile object at the
output paths on both activation paths, failing file systems, rlimits,
stress and storms.

Everything that touches startup or process state runs in a child of
$PYTHON (default build/python).  Every child's pid is known (the
subprocess, or printed as "pid=<n>" by the child for its own children) and
its /tmp/perf-<pid>.map and /tmp/jit-<pid>.dump are removed afterwards;
files that existed before a test started are never touched.  Tests that
need root (a throwaway user, private mount namespaces) skip without it.

Run: make check-robustness, or
     build/python tests/test_robustness.py [-v] [unittest args]
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import unittest

def find_repo():
    d = os.path.dirname(os.path.abspath(__file__))
    while d != "/" and not os.path.exists(
            os.path.join(d, "tools", "jitdump_check.py")):
        d = os.path.dirname(d)
    return d


REPO = os.environ.get("REPO") or find_repo()
PYTHON = os.environ.get("PYTHON") or os.path.join(REPO, "build", "python")
sys.path.insert(0, os.path.join(REPO, "tools"))
import jitdump_check  # noqa: E402

PERF_VARS = ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT")
BACKENDS = ("perf", "perf_jit")
TIMEOUT = float(os.environ.get("ROBUSTNESS_TIMEOUT", "300"))
# For a child that could hang on a hostile object: long enough for a slow
# start (ASan, a loaded machine), short enough not to stall the suite.
HANG_TIMEOUT = float(os.environ.get("ROBUSTNESS_HANG_TIMEOUT", "30"))
# Scale of the stress tests (functions per thread, forks, repetitions):
# 1 is the matrix (8 threads x 2,000 functions, 200 forks...);
# make check-asan runs them smaller, as everything is slower there.
SCALE = float(os.environ.get("ROBUSTNESS_SCALE", "1"))


def scaled(n, minimum=1):
    return max(minimum, int(n * SCALE))

# A trampoline line: <start hex> <size hex> py::<qualname>:<filename>, no
# control character anywhere.
MAP_LINE = re.compile(rb"[0-9a-f]+ [0-9a-f]+ py::[^\x00-\x1f\x7f]*")
ANY_MAP_LINE = re.compile(rb"[0-9a-f]+ [0-9a-f]+ [^\x00-\x1f\x7f]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PID_LINE = re.compile(r"^pid=(\d+)$", re.MULTILINE)
# What a sanitizer or a crash leaves on stderr.
CRASH_MARKERS = ("Fatal Python error", "AddressSanitizer", "runtime error:",
                 "LeakSanitizer", "Segmentation fault", "Aborted",
                 "Debug memory block", "Bad address")


def map_path(pid):
    return f"/tmp/perf-{pid}.map"


def dump_path(pid):
    return f"/tmp/jit-{pid}.dump"


def existing_outputs():
    """Names of the perf files in /tmp now: pids may be reused, and a file
    left by a dead process must neither be taken for ours nor removed."""
    try:
        return {n for n in os.listdir("/tmp")
                if re.fullmatch(r"perf-\d+\.map|jit-\d+\.dump", n)}
    except OSError:
        return set()


def remove_own_stale_files():
    """preexec_fn: a leftover of an earlier process with our pid must not
    pass for our output (the jitdump backend refuses it, and rightly)."""
    pid = os.getpid()
    for path in (map_path(pid), dump_path(pid)):
        try:
            os.unlink(path)
        except OSError:
            pass


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in PERF_VARS}
    env.update(extra)
    return env


def query_python(code):
    return subprocess.run([PYTHON, "-c", code], capture_output=True,
                          text=True, env=child_env()).stdout.strip()


CONFIG_ARGS, WITH_PYMALLOC = query_python(
    "import sysconfig; v = sysconfig.get_config_var; "
    "print(v('WITH_PYMALLOC'), v('CONFIG_ARGS'), sep='|')").split("|", 1)[::-1]
UNDER_ASAN = "address-sanitizer" in CONFIG_ARGS
IS_ROOT = os.geteuid() == 0


def can_unshare():
    if not IS_ROOT or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-m", "sh", "-c",
                        "mount -t tmpfs -o size=16k perf-probe /mnt"],
                       capture_output=True)
    return r.returncode == 0


CAN_UNSHARE = can_unshare()
# TestUnusableTmp mounts a small tmpfs over /tmp, which would hide an
# interpreter that lives there (a clone of the repository in /tmp).
PYTHON_UNDER_TMP = os.path.realpath(PYTHON).startswith("/tmp/")


class Result:
    def __init__(self, rc, out, err, pid):
        self.rc, self.out, self.err, self.pid = rc, out, err, pid

    def values(self):
        d = {}
        for line in self.out.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                d[k] = v
        return d

    def __repr__(self):
        return (f"<rc={self.rc} pid={self.pid}\n--- stdout:\n"
                f"{self.out[-3000:]}\n--- stderr:\n{self.err[-3000:]}>")


class RobustCase(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self._before = existing_outputs()
        self._pids = set()
        self._tmp = tempfile.mkdtemp(prefix="perf311-robust-")
        self.addCleanup(shutil.rmtree, self._tmp, True)
        self.addCleanup(self._remove_outputs)

    def _remove_outputs(self):
        for pid in self._pids:
            for path in (map_path(pid), dump_path(pid)):
                if os.path.basename(path) in self._before:
                    continue
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def track(self, pid):
        self._pids.add(pid)

    def is_fresh(self, pid):
        """True if no perf file of pid existed before the test."""
        return (os.path.basename(map_path(pid)) not in self._before
                and os.path.basename(dump_path(pid)) not in self._before)

    def write_script(self, source, name="script.py"):
        path = os.path.join(self._tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source))
        return path

    def run_python(self, args, env=None, rc=0, preexec_fn=None, wrapper=(),
                   timeout=TIMEOUT, pass_fds=(), warnings="always"):
        """Run PYTHON with args (warnings shown every time, so they can be
        counted).  Checks the exit status against rc (unless None) and
        that stderr shows no crash or sanitizer report."""
        cmd = [*wrapper, PYTHON, "-X", "faulthandler"]
        if warnings:
            cmd += ["-W", f"{warnings}::RuntimeWarning"]
        cmd += list(args)

        def preexec():
            remove_own_stale_files()
            if preexec_fn is not None:
                preexec_fn()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env=env if env is not None else child_env(),
                                preexec_fn=preexec, pass_fds=pass_fds,
                                start_new_session=True)
        self.track(proc.pid)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            res = Result(None, out.decode("utf-8", "replace"),
                         err.decode("utf-8", "replace"), proc.pid)
            self.fail(f"child hung (killed after {timeout:.0f} s): "
                      f"{cmd}\n{res!r}")
        res = Result(proc.returncode, out.decode("utf-8", "replace"),
                     err.decode("utf-8", "replace"), proc.pid)
        for pid in PID_LINE.findall(res.out):
            self.track(int(pid))
        if rc is not None:
            self.assertEqual(res.rc, rc, f"{cmd}\n{res!r}")
        if rc is not None:
            for marker in CRASH_MARKERS:
                if rc == 0 or marker != "Fatal Python error":
                    self.assertNotIn(marker, res.err, f"{cmd}\n{res!r}")
        return res

    def run_script(self, source, *options, args=(), **kw):
        script = self.write_script(source)
        return script, self.run_python([*options, script, *args], **kw)

    # -- checks of the output files --

    def read_map(self, pid, strict=True):
        """The lines (bytes) of /tmp/perf-<pid>.map, after checking that it
        is our regular 0600 file, valid UTF-8, ends with a newline (no torn
        line), and (strict) every line is a trampoline line."""
        path = map_path(pid)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, path)
        self.assertEqual(st.st_uid, os.geteuid(), path)
        with open(path, "rb") as f:
            data = f.read()
        return self.check_map_data(data, path, strict)

    def check_map_data(self, data, what, strict=True):
        if data:
            self.assertTrue(data.endswith(b"\n"),
                            f"{what} ends with a torn line: {data[-200:]!r}")
        data.decode("utf-8")            # raises on a cut UTF-8 sequence
        lines = data.split(b"\n")[:-1]
        regex = MAP_LINE if strict else ANY_MAP_LINE
        for line in lines:
            self.assertIsNotNone(regex.fullmatch(line),
                                 f"{what}: malformed line {line[:300]!r}")
        return lines

    @staticmethod
    def map_names(lines):
        return [line.split(b" ", 2)[2].decode("utf-8") for line in lines]

    def check_dump(self, pid, require_close=True, path=None):
        """Parse /tmp/jit-<pid>.dump and run tools/jitdump_check.py's
        checks on it; return the list of CODE_LOAD names."""
        path = path or dump_path(pid)
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), path)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, path)
        self.assertEqual(st.st_uid, os.geteuid(), path)
        dump = jitdump_check.parse(path)
        errors = jitdump_check.check(dump, require_close=require_close,
                                     pid=pid)
        self.assertEqual(errors, [], f"{path} is invalid")
        names = [r["sym"] for r in dump.records
                 if r["id"] == jitdump_check.CODE_LOAD]
        for r in dump.records:
            if r["id"] == jitdump_check.CODE_DEBUG_INFO:
                for e in r["entries"]:
                    self.assertIsNone(CONTROL.search(e["filename"]),
                                      f"control character in a line table "
                                      f"file name: {e['filename']!r}")
        for name in names:
            self.assertIsNone(CONTROL.search(name),
                              f"control character in a name: {name!r}")
        return names

    def output_names(self, backend, pid, require_close=True):
        if backend == "perf":
            return self.map_names(self.read_map(pid))
        return self.check_dump(pid, require_close)

    def count_warnings(self, res, text="perf"):
        return sum(1 for line in res.err.splitlines()
                   if "RuntimeWarning" in line and text in line)


# A function factory used by many child scripts: new function identities
# without compiling anything.
MAKE = """
import types
def _template():
    return 1
def make(qualname, filename=None, result=1):
    code = _template.__code__.replace(
        co_name="f", co_qualname=qualname,
        co_consts=tuple(result if c == 1 else c
                        for c in _template.__code__.co_consts),
        **({"co_filename": filename} if filename is not None else {}))
    return types.FunctionType(code, {})
"""


# ---------------------------------------------------------------------------
# Switch values
# ---------------------------------------------------------------------------

STATE = ("import sys\n"
         "def touch():\n"
         "    return 1\n"
         "touch()\n"
         "print(sys.is_stack_trampoline_active())\n")


# The end of the children that fill /tmp or exceed RLIMIT_FSIZE: with
# mode "wait", leave the pending data to the periodic flush (the map's
# flusher thread, 50 ms after the first pending line, or the GIL release in
# sleep()); then deactivate, which must not raise, and call everything
# again untrampolined.  Needs sys, time, mode, funcs and total.
FLUSH_THEN_DEACTIVATE = r"""
if mode == "wait":
    time.sleep(0.1)
    time.sleep(0.1)
try:
    sys.deactivate_stack_trampoline()
    print("deactivate=ok")
except BaseException as exc:
    print(f"deactivate={type(exc).__name__}: {exc}")
# Calls go on, and a later activation fails cleanly or works.
print(f"total={total + sum(f() for f in funcs)}")
"""


class TestSwitchValues(RobustCase):
    """SPEC section 4 and the contract: -X perf[=N] / -X perf_jit[=N] with N
    a non-negative decimal int; the variables empty, 0 or a positive int.
    Anything else stops Python at startup: exit status 1, a message on
    stderr naming the option or variable and the value, with "invalid"."""

    def state(self, args=(), env=None):
        res = self.run_python([*args, "-c", STATE], env=child_env(**(env or {})))
        self.assertIn(res.out.strip(), ("True", "False"), res)
        return res.out.strip() == "True", res

    def assertStartupError(self, args=(), env=None, names=()):
        res = self.run_python([*args, "-c", "print('ran')"],
                              env=child_env(**(env or {})), rc=1)
        self.assertNotIn("ran", res.out)
        self.assertIn("invalid", res.err.lower(), res)
        for name in names:
            self.assertIn(name, res.err, res)
        self.assertNotIn("Traceback", res.err)
        self.assertFalse(os.path.exists(map_path(res.pid)))
        self.assertFalse(os.path.exists(dump_path(res.pid)))
        # One short message, not a wall of text.
        self.assertLess(len(res.err), 1000, res)
        return res

    def test_env_values(self):
        on = ["1", "7", "01", "007", "2147483647"]
        off = ["", "0", "00"]
        bad = ["yes", "no", "true", "on", "-1", "+1", " 1", "1 ", "\t1",
               "0x1", "1e3", "1.0", "1_000", "\u0661",  # ARABIC-INDIC ONE
               "99999999999999999999", "2147483648", "1\u00e9"]
        for var in PERF_VARS:
            for value in on:
                with self.subTest(var=var, value=value):
                    self.assertTrue(self.state(env={var: value})[0])
            for value in off:
                with self.subTest(var=var, value=value):
                    self.assertFalse(self.state(env={var: value})[0])
            for value in bad:
                with self.subTest(var=var, value=value):
                    res = self.assertStartupError(env={var: value},
                                                  names=(var,))
                    if value.strip() and value.isascii():
                        self.assertIn(value.strip(), res.err)

    def test_env_value_huge_and_binary(self):
        # A 100 KB value and one that is not UTF-8: the message stays short
        # and names the variable.
        for var in PERF_VARS:
            with self.subTest(var=var, value="100 KB"):
                self.assertStartupError(env={var: "9" * 100_000},
                                        names=(var,))
            with self.subTest(var=var, value="bytes"):
                env = {k.encode(): v.encode("utf-8", "surrogateescape")
                       for k, v in child_env().items()}
                env[var.encode()] = b"\xff\xfe1"
                res = self.run_python(["-c", "pass"], env=env, rc=1)
                self.assertIn(var, res.err)
                self.assertIn("invalid", res.err.lower())

    def test_env_ignored_under_E_and_I_even_if_invalid(self):
        for flag in ("-E", "-I"):
            for var in PERF_VARS:
                with self.subTest(flag=flag, var=var):
                    self.assertFalse(
                        self.state([flag], env={var: "99999999999999999999"})[0])

    def test_xoption_values(self):
        for opt in BACKENDS:
            for value in ("1", "2147483647", "007"):
                with self.subTest(opt=opt, value=value):
                    self.assertTrue(self.state(["-X", f"{opt}={value}"])[0])
            for value in ("0", "00"):
                with self.subTest(opt=opt, value=value):
                    self.assertFalse(self.state(["-X", f"{opt}={value}"])[0])
            for value in ("", " 1", "+1", "0x1", "1.0", "yes", "-1",
                          "2147483648", "99999999999999999999", "\u0661",
                          "1\u00e9", "9" * 5000):
                with self.subTest(opt=opt, value=value[:20]):
                    self.assertStartupError(["-X", f"{opt}={value}"],
                                            names=(f"-X {opt}=",))

    def test_xoption_lookalikes_are_other_options(self):
        # Only "perf" and "perf_jit" are ours; -X accepts any other name.
        for arg in ("PERF", "perfx=1", "perf_jitx", "perf_", "xperf=1"):
            with self.subTest(arg=arg):
                self.assertFalse(self.state(["-X", arg])[0])

    def test_invalid_xoption_beats_valid_env(self):
        self.assertStartupError(["-X", "perf=foo"],
                                env={"PYTHONPERFSUPPORT": "1"},
                                names=("-X perf=foo",))

    def test_last_xoption_wins(self):
        self.assertFalse(self.state(["-X", "perf", "-X", "perf=0"])[0])
        self.assertTrue(self.state(["-X", "perf=0", "-X", "perf"])[0])


SYS_API_ERRORS = r"""
import sys
results = []
class S(str):
    pass
class Evil:
    def __str__(self):
        return "perf"
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
def attempt(label, func, *args, **kw):
    try:
        func(*args, **kw)
    except BaseException as exc:
        msg = str(exc)
        if len(msg) > 300:
            msg = msg[:150] + "..." + msg[-150:]
        print(f"{label}|{type(exc).__name__}|{msg}".replace("\n", " "))
    else:
        print(f"{label}|ok|")
    print(f"{label}-active={sys.is_stack_trampoline_active()}")
act = sys.activate_stack_trampoline
attempt("noargs", act)
attempt("twoargs", act, "perf", "perf")
attempt("keyword", act, backend="perf")
attempt("none", act, None)
attempt("int", act, 1)
attempt("bytes", act, b"perf")
attempt("bytearray", act, bytearray(b"perf"))
attempt("memoryview", act, memoryview(b"perf"))
attempt("evil", act, Evil())
attempt("list", act, ["perf"])
attempt("unknown", act, "jit")
attempt("empty", act, "")
attempt("case", act, "Perf")
attempt("space", act, " perf")
attempt("nul", act, "perf\0")
attempt("nul_jit", act, "perf_jit\0x")
attempt("surrogate", act, "perf\udc80")
attempt("nonascii", act, "p\u00e9rf")
attempt("huge", act, "p" * 1_000_000)
attempt("deact_arg", sys.deactivate_stack_trampoline, "perf")
attempt("active_arg", sys.is_stack_trampoline_active, 1)
attempt("str_subclass", act, S("perf"))
sys.deactivate_stack_trampoline()
print("done")
"""


class TestSysAPIErrors(RobustCase):
    """Every wrong argument: the right exception, a message naming the
    valid backends where the value is a string, and nothing changed."""

    def test_wrong_arguments(self):
        _, res = self.run_script(SYS_API_ERRORS)
        lines = {}
        for line in res.out.splitlines():
            if "|" in line:
                label, kind, msg = line.split("|", 2)
                lines[label] = (kind, msg)
        v = res.values()
        type_errors = ("noargs", "twoargs", "keyword", "none", "int",
                       "bytes", "bytearray", "memoryview", "evil", "list",
                       "deact_arg", "active_arg")
        value_errors = ("unknown", "empty", "case", "space", "nonascii",
                        "huge")
        for label in type_errors:
            with self.subTest(label=label):
                self.assertEqual(lines[label][0], "TypeError", lines[label])
                self.assertEqual(v[f"{label}-active"], "False")
        for label in value_errors:
            with self.subTest(label=label):
                kind, msg = lines[label]
                self.assertEqual(kind, "ValueError", lines[label])
                self.assertIn("'perf'", msg)
                self.assertIn("'perf_jit'", msg)
                self.assertEqual(v[f"{label}-active"], "False")
        for label in ("nul", "nul_jit"):
            with self.subTest(label=label):
                self.assertEqual(lines[label][0], "ValueError")
                self.assertEqual(v[f"{label}-active"], "False")
        # A string that cannot be encoded: a ValueError (UnicodeEncodeError
        # is one), never a crash, nothing activated.
        kind, _ = lines["surrogate"]
        self.assertIn(kind, ("ValueError", "UnicodeEncodeError"))
        self.assertEqual(v["surrogate-active"], "False")
        # A str subclass is a str.
        self.assertEqual(lines["str_subclass"][0], "ok")
        self.assertEqual(v["str_subclass-active"], "True")
        self.assertIn("done", res.out)
        # No file was created by the failed attempts; the successful one
        # created the map only.
        self.assertFalse(os.path.exists(dump_path(res.pid)))


# ---------------------------------------------------------------------------
# Hostile names, both backends
# ---------------------------------------------------------------------------

HOSTILE_NAMES = MAKE + r"""
import importlib, os, sys
backend, tmpdir = sys.argv[1], sys.argv[2]
script = os.path.abspath(__file__)
cases = {
    "nl": ("nl\n0 0 py::forged_nl:x.py", None),
    "cr": ("cr\r1 1 py::forged_cr:x.py", None),
    "nul": ("nul\x002 2 py::forged_nul:x.py", None),
    "crlf": ("crlf\r\n3 3 py::forged_crlf:x.py\n", None),
    "ctl": ("tab\tesc\x1bdel\x7fbell\x07", None),
    "file_nl": ("file_nl", "dir\n4 4 py::forged_file:y.py"),
    "file_nul": ("file_nul", "nul\x00file.py"),
    "lone": ("lone\udc80surrogate", None),
    "file_bytes": ("file_bytes", os.fsdecode(b"/bad\xff\xfename.py")),
    "long_q": ("q" * 100_000, None),
    "long_q_nl": (("Q" * 99 + "\n") * 1000, None),
    "long_f": ("long_f", "/" + "d" * 100_000 + ".py"),
    "long_both": ("B" * 100_000, "/" + "F" * 100_000 + ".py"),
    "utf8_2": ("x" + "\u00e9" * 60_000, None),
    "utf8_4": ("\U0001F600" * 30_000, None),
    "utf8_3_file": ("utf8_3_file", "/" + "\u20ac" * 40_000),
}
total = 0
for key, (qualname, filename) in cases.items():
    total += make(qualname, filename)()
# A real module in a directory whose name is not UTF-8.
moddir = os.path.join(os.fsencode(tmpdir), b"pkg\xff\xfe")
os.mkdir(moddir)
with open(os.path.join(moddir, b"hostile_mod.py"), "w") as f:
    f.write("def in_bytes_dir():\n    return 1\n")
sys.path.insert(0, os.fsdecode(moddir))
mod = importlib.import_module("hostile_mod")
total += mod.in_bytes_dir()
print(f"mod_file={mod.__file__!a}")
print(f"total={total}")
"""


class TestHostileNames(RobustCase):
    """co_qualname / co_filename with \n, \r, NUL, other control
    characters, 100 KB, lone surrogates, non-UTF-8 file names: no forged or
    torn line or record, no crash, the name still recognisable."""

    def check_names(self, names, script, tmpdir):
        # Nothing forged: no name starts like an injected one, and no name
        # has a control character (checked by read_map / check_dump).
        for name in names:
            self.assertFalse(name.startswith("py::forged"), name)
            self.assertLessEqual(len(name.encode()), 4096 + 3, name[:100])
        def has(name):
            self.assertIn(name, names)
        has(f"py::nl?0 0 py::forged_nl:x.py:{script}")
        has(f"py::cr?1 1 py::forged_cr:x.py:{script}")
        has(f"py::nul?2 2 py::forged_nul:x.py:{script}")
        has(f"py::crlf??3 3 py::forged_crlf:x.py?:{script}")
        has(f"py::tab?esc?del?bell?:{script}")
        has("py::file_nl:dir?4 4 py::forged_file:y.py")
        has("py::file_nul:nul?file.py")
        has(f"py::lone\\udc80surrogate:{script}")
        has("py::file_bytes:/bad\\udcff\\udcfename.py")
        # Truncated names: recognisable start, "..." where cut.
        long_q = [n for n in names if n.startswith("py::qqqq")]
        self.assertEqual(len(long_q), 1, names)
        self.assertRegex(long_q[0], r"^py::q+\.\.\.:" + re.escape(script) + "$")
        long_q_nl = [n for n in names if n.startswith("py::QQQ")]
        self.assertEqual(len(long_q_nl), 1)
        self.assertRegex(long_q_nl[0], r"^py::(Q{99}\?)+Q*\.\.\.:")
        long_f = [n for n in names if n.startswith("py::long_f:")]
        self.assertEqual(len(long_f), 1)
        self.assertRegex(long_f[0], r"^py::long_f:/d+\.\.\.$")
        long_both = [n for n in names if n.startswith("py::BBB")]
        self.assertEqual(len(long_both), 1)
        self.assertRegex(long_both[0], r"^py::B+\.\.\.:/F+\.\.\.$")
        utf8_2 = [n for n in names if n.startswith("py::x\u00e9")]
        self.assertEqual(len(utf8_2), 1)
        self.assertRegex(utf8_2[0], "^py::x\u00e9+\\.\\.\\.:")
        utf8_4 = [n for n in names if n.startswith("py::\U0001F600")]
        self.assertEqual(len(utf8_4), 1)
        self.assertRegex(utf8_4[0], "^py::\U0001F600+\\.\\.\\.:")
        utf8_3 = [n for n in names if n.startswith("py::utf8_3_file:")]
        self.assertEqual(len(utf8_3), 1)
        self.assertRegex(utf8_3[0], "^py::utf8_3_file:/\u20ac+\\.\\.\\.$")
        in_bytes = [n for n in names if n.startswith("py::in_bytes_dir:")]
        self.assertEqual(in_bytes, [
            "py::in_bytes_dir:" + os.path.join(tmpdir, "pkg\\udcff\\udcfe",
                                               "hostile_mod.py")])

    def run_backend(self, backend, startup):
        options = ["-X", backend] if startup else []
        source = HOSTILE_NAMES
        if not startup:
            source = source.replace(
                "total = 0\n",
                "total = 0\nsys.activate_stack_trampoline(backend)\n", 1)
        script, res = self.run_script(source, *options,
                                      args=[backend, self._tmp])
        self.assertEqual(res.values()["total"], "17", res)
        self.assertEqual(self.count_warnings(res), 0, res)
        names = self.output_names(backend, res.pid)
        self.check_names(names, script, self._tmp)
        self.assertEqual(len(names), len(set(names)), "duplicate names")
        if backend == "perf":
            self.assertFalse(os.path.exists(dump_path(res.pid)))
        else:
            self.assertFalse(os.path.exists(map_path(res.pid)))

    def test_perf_map(self):
        self.run_backend("perf", startup=True)

    def test_perf_map_runtime_activation(self):
        self.run_backend("perf", startup=False)

    def test_jitdump(self):
        self.run_backend("perf_jit", startup=True)

    def test_jitdump_runtime_activation(self):
        self.run_backend("perf_jit", startup=False)

    def test_c_api_names(self):
        # PyUnstable_WritePerfMapEntry: the writer sanitizes and truncates
        # names from other JITs too (at 4096 bytes, on a UTF-8 boundary).
        _, res = self.run_script(r"""
            import _testinternalcapi as t
            assert t.perf_map_state_init() == 0
            w = t.write_perf_map_entry
            w(0x1000, 0x10, "jit::a\n1 1 forged")
            w(0x2000, 0x10, "jit::b\r\n")
            w(0x3000, 0x10, "jit::" + "\u00e9" * 5000)
            w(0x4000, 0x10, "jit::" + "\U0001F600" * 5000)
            w(0x5000, 0x10, "jit::" + "z" * 1_000_000)
            w(0x6000, 0x10, "jit::after")
            t.perf_map_state_fini()
            """)
        lines = self.read_map(res.pid, strict=False)
        self.assertEqual(len(lines), 6, lines)
        names = self.map_names(lines)
        self.assertEqual(names[0], "jit::a?1 1 forged")
        self.assertEqual(names[1], "jit::b??")
        for name in names[2:5]:
            self.assertTrue(name.endswith("..."), name[-20:])
            self.assertLessEqual(len(name.encode()), 4096 + 3)
        self.assertEqual(names[5], "jit::after")


# ---------------------------------------------------------------------------
# Hostile /tmp
# ---------------------------------------------------------------------------

class ThrowawayUser:
    """A system user created for the test and removed afterwards; where
    useradd is missing or fails, the conventional 'nobody' (65534).  Users
    left by an earlier run that was killed (perfrb<pid>, that pid gone)
    are removed first."""

    PREFIX = "perfrb"

    def __init__(self):
        self.remove_leftovers()
        self.name = f"{self.PREFIX}{os.getpid()}"
        self.created = False
        try:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", "--user-group",
                            self.name], check=True, capture_output=True)
            self.created = True
            pw = pwd.getpwnam(self.name)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        except (OSError, subprocess.CalledProcessError, KeyError):
            self.name, self.uid, self.gid = "nobody", 65534, 65534

    @classmethod
    def remove_leftovers(cls):
        for pw in pwd.getpwall():
            suffix = pw.pw_name[len(cls.PREFIX):]
            if (pw.pw_name.startswith(cls.PREFIX) and suffix.isdigit()
                    and not os.path.exists(f"/proc/{suffix}")):
                subprocess.run(["userdel", pw.pw_name], capture_output=True)

    def remove(self):
        if self.created:
            subprocess.run(["userdel", self.name], capture_output=True)

    def run_as(self, func):
        """Run func() in a forked process with this user's identity."""
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(self.gid)
                os.setuid(self.uid)
                func()
            except BaseException:
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise OSError(f"helper as {self.name} failed: {status}")


HOSTILE_CHILD = """
import os, sys
def work(n):
    return n + 1
ACTIVATE
total = sum(work(i) for i in range(1000))
print(f"total={total}")
print(f"active={sys.is_stack_trampoline_active()}")
sys.deactivate_stack_trampoline()
"""


@unittest.skipUnless(IS_ROOT, "needs root (a throwaway user, chown)")
class TestHostileTmp(RobustCase):
    """Something already at /tmp/perf-PID.map or /tmp/jit-PID.dump: a
    symlink (to a victim file, or dangling), a file of another user, a
    directory, a FIFO (which would block a plain open() forever).  Nothing
    is written through, the object is left as it was, one warning names the
    file, and the program runs on untrampolined.  Both backends, both
    activation paths (-X at startup, sys.activate_stack_trampoline)."""

    @classmethod
    def setUpClass(cls):
        cls.user = ThrowawayUser()

    @classmethod
    def tearDownClass(cls):
        cls.user.remove()

    def plant(self, kind, path, victim):
        user = self.user
        if kind == "symlink":
            user.run_as(lambda: os.symlink(victim, path))
        elif kind == "dangling":
            user.run_as(lambda: os.symlink(victim + ".created", path))
        elif kind == "foreign":
            def make_file():
                with open(path, "w") as f:
                    f.write("foreign\n")
            user.run_as(make_file)
        elif kind == "own_symlink":      # same user, e.g. another process
            os.symlink(victim, path)
        elif kind == "directory":
            user.run_as(lambda: os.mkdir(path))
        elif kind == "fifo":
            user.run_as(lambda: os.mkfifo(path, 0o666))
        elif kind == "own_fifo":
            os.mkfifo(path, 0o600)
        else:
            raise ValueError(kind)

    def describe(self, path):
        st = os.lstat(path)
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
        content = None
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                content = f.read()
        return (stat.S_IFMT(st.st_mode), st.st_uid, st.st_size, link,
                content)

    def one_case(self, backend, kind, startup):
        victim = os.path.join(self._tmp, "victim.txt")
        with open(victim, "w") as f:
            f.write("untouched\n")
        # The directory holding the victim must be reachable by the user.
        os.chmod(self._tmp, 0o755)
        planted = {}

        def plant_own():
            pid = os.getpid()
            path = (map_path if backend == "perf" else dump_path)(pid)
            self.plant(kind, path, victim)
        if startup:
            source = HOSTILE_CHILD.replace("ACTIVATE", "")
            options = ["-X", backend]
        else:
            source = HOSTILE_CHILD.replace(
                "ACTIVATE", f"sys.activate_stack_trampoline({backend!r})")
            options = []
        script = self.write_script(source)
        res = self.run_python([*options, script], preexec_fn=plant_own,
                              timeout=HANG_TIMEOUT)
        pid = res.pid
        path = (map_path if backend == "perf" else dump_path)(pid)
        other = (dump_path if backend == "perf" else map_path)(pid)
        try:
            self.assertEqual(res.values().get("total"), str(500500), res)
            self.assertEqual(res.values().get("active"), "False", res)
            # One warning that names the file.
            self.assertEqual(self.count_warnings(res, path), 1, res)
            # Left as it was.
            with open(victim) as f:
                self.assertEqual(f.read(), "untouched\n")
            self.assertFalse(os.path.lexists(victim + ".created"))
            after = self.describe(path)
            if kind in ("symlink", "dangling", "own_symlink"):
                self.assertEqual(after[0], stat.S_IFLNK)
            elif kind == "foreign":
                self.assertEqual(after[0], stat.S_IFREG)
                self.assertEqual(after[1], self.user.uid)
                self.assertEqual(after[4], b"foreign\n")
            elif kind == "directory":
                self.assertEqual(after[0], stat.S_IFDIR)
                self.assertEqual(os.listdir(path), [])
            else:
                self.assertEqual(after[0], stat.S_IFIFO)
            self.assertFalse(os.path.lexists(other))
        finally:
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            elif os.path.lexists(path):
                os.unlink(path)
            if os.path.lexists(victim + ".created"):
                os.unlink(victim + ".created")

    def run_matrix(self, kinds):
        for backend in BACKENDS:
            for startup in (True, False):
                for kind in kinds:
                    with self.subTest(backend=backend, kind=kind,
                                      startup=startup):
                        self.one_case(backend, kind, startup)

    def test_symlinks(self):
        self.run_matrix(("symlink", "dangling", "own_symlink"))

    def test_foreign_file_and_directory(self):
        self.run_matrix(("foreign", "directory"))

    def test_fifo(self):
        # A FIFO: open(O_WRONLY) without O_NONBLOCK blocks until a reader
        # comes, i.e. forever: a local denial of service.
        self.run_matrix(("fifo", "own_fifo"))

    def test_fifo_c_api(self):
        # PyUnstable_PerfMapState_Init() opens the same path.
        def plant_own():
            os.mkfifo(map_path(os.getpid()), 0o600)
        script = self.write_script("""
            import _testinternalcapi as t
            try:
                r = t.perf_map_state_init()
            except Exception as exc:
                r = type(exc).__name__
            print(f"init={r}")
            """)
        res = self.run_python([script], preexec_fn=plant_own,
                              timeout=HANG_TIMEOUT)
        try:
            self.assertNotEqual(res.values().get("init"), "0", res)
        finally:
            os.unlink(map_path(res.pid))


# ---------------------------------------------------------------------------
# /tmp unusable, file system full: a private mount namespace
# ---------------------------------------------------------------------------

# Runs "$@" with a fresh tmpfs (options $1) on /tmp, in a private mount
# namespace, then copies the perf files out to the directory open on fd
# $2 (the test's own /tmp directory is hidden by then).
NAMESPACE_WRAPPER = r"""
opts=$1; fd=$2; shift 2
mount -t tmpfs -o "$opts" perf-robustness /tmp || exit 97
"$@"
rc=$?
for f in /tmp/perf-*.map /tmp/jit-*.dump; do
    [ -e "$f" ] && cp "$f" "/proc/self/fd/$fd/"
done
exit $rc
"""


@unittest.skipUnless(CAN_UNSHARE, "needs root and unshare -m (mount "
                     "namespaces) for a private /tmp")
@unittest.skipIf(PYTHON_UNDER_TMP, "the interpreter lives under /tmp, which "
                 "these tests replace with a small tmpfs: clone the "
                 "repository elsewhere to run them")
class TestUnusableTmp(RobustCase):
    """/tmp read-only, mounted noexec, or full (a 16-64 KiB tmpfs): no
    crash, no torn line or record, one warning, calls go on."""

    def run_in_tmpfs(self, mount_opts, args, **kw):
        outdir = tempfile.mkdtemp(dir=self._tmp)
        fd = os.open(outdir, os.O_RDONLY | os.O_DIRECTORY)
        self.addCleanup(os.close, fd)
        wrapper = ["unshare", "-m", "sh", "-c", NAMESPACE_WRAPPER, "sh",
                   mount_opts, str(fd)]
        res = self.run_python(args, wrapper=wrapper, pass_fds=(fd,), **kw)
        files = {}
        for name in os.listdir(outdir):
            with open(os.path.join(outdir, name), "rb") as f:
                files[name] = f.read()
        return res, files

    def test_read_only(self):
        for backend in BACKENDS:
            for startup in (True, False):
                with self.subTest(backend=backend, startup=startup):
                    source = HOSTILE_CHILD.replace(
                        "ACTIVATE", "" if startup else
                        f"sys.activate_stack_trampoline({backend!r})")
                    options = ["-X", backend] if startup else []
                    res, files = self.run_in_tmpfs(
                        "ro,size=64k", [*options, "-c", source])
                    self.assertEqual(res.values()["total"], "500500")
                    self.assertEqual(res.values()["active"], "False")
                    self.assertEqual(self.count_warnings(res, "/tmp/"), 1,
                                     res)
                    self.assertIn("Read-only file system", res.err)
                    self.assertEqual(files, {})

    def test_noexec_jitdump(self):
        # perf finds a jitdump through an executable mapping of it.
        for startup in (True, False):
            with self.subTest(startup=startup):
                source = HOSTILE_CHILD.replace(
                    "ACTIVATE", "" if startup else
                    "sys.activate_stack_trampoline('perf_jit')")
                options = ["-X", "perf_jit"] if startup else []
                res, files = self.run_in_tmpfs("noexec,size=64k",
                                               [*options, "-c", source])
                self.assertEqual(res.values()["total"], "500500")
                self.assertEqual(res.values()["active"], "False")
                self.assertEqual(self.count_warnings(res, "/tmp/jit-"), 1,
                                 res)
                self.assertIn("noexec", res.err)
                # The half-made file is not left behind.
                self.assertEqual(files, {})

    FILL = MAKE + r"""
import os, sys, time
backend, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
funcs = [make(f"fill_{i:05d}_" + "n" * 40) for i in range(n)]
sys.activate_stack_trampoline(backend)
total = 0
for f in funcs:
    total += f()
""" + FLUSH_THEN_DEACTIVATE + r"""
print(f"pid={os.getpid()}")
"""

    def check_full(self, backend, files, pid):
        name = (f"perf-{pid}.map" if backend == "perf"
                else f"jit-{pid}.dump")
        self.assertIn(name, files)
        data = files[name]
        if backend == "perf":
            lines = self.check_map_data(data, name)
            return len(lines)
        path = os.path.join(self._tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        dump = jitdump_check.parse(path)
        self.assertEqual(jitdump_check.check(dump, pid=pid), [], name)
        return sum(r["id"] == jitdump_check.CODE_LOAD for r in dump.records)

    def run_fill(self, backend, size, n, mode):
        res, files = self.run_in_tmpfs(
            f"size={size}", ["-c", self.FILL, backend, str(n), mode])
        v = res.values()
        self.assertEqual(v["total"], str(2 * n), res)
        self.assertEqual(v["deactivate"], "ok", res)
        self.assertEqual(self.count_warnings(res, "No space left"), 1, res)
        loaded = self.check_full(backend, files, int(v["pid"]))
        self.assertLess(loaded, n)
        return res

    def test_full_while_running(self):
        # Far more than the buffer: the failure shows when a full buffer
        # is flushed, in the middle of the calls.
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_fill(backend, "32k", 3000, "run")

    def test_full_at_deactivation(self):
        # Less than the buffer: the failure shows at deactivation, which
        # must warn like any other failure, not raise.
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                # Less than the 64 KiB buffer of either backend.
                self.run_fill(backend, "4k", 300 if backend == "perf" else 100,
                              "deactivate")

    def test_full_at_periodic_flush(self):
        # The failure shows at the flush done when the GIL is released:
        # it must be reported, not swallowed.
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_fill(backend, "4k", 300 if backend == "perf" else 100,
                              "wait")


# ---------------------------------------------------------------------------
# Resource limits
# ---------------------------------------------------------------------------

RLIMIT_AS_CHILD = MAKE + r"""
import gc, resource, sys
backend, when = sys.argv[1], sys.argv[2]
funcs = [make(f"as_{i}") for i in range(700)]
def vmsize():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
if when == "after":
    sys.activate_stack_trampoline(backend)
gc.disable()
# Room for small allocations, not for a 64 KiB arena or buffer.
margin = 0 if when == "exact" else 24 * 1024
resource.setrlimit(resource.RLIMIT_AS, (vmsize() + margin, hard))
try:
    if when != "after":
        sys.activate_stack_trampoline(backend)
    total = 0
    for f in funcs:
        total += f()
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
gc.enable()
print(f"total={total}")
print(f"active={sys.is_stack_trampoline_active()}")
# With memory back, activating again works.
sys.activate_stack_trampoline(backend)
def later():
    return 5
print(f"later={later()}")
print(f"active2={sys.is_stack_trampoline_active()}")
sys.deactivate_stack_trampoline()
"""

FSIZE_CHILD = MAKE + r"""
import resource, sys, time
backend, limit, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
funcs = [make(f"fsize_{i:05d}") for i in range(n)]
sys.activate_stack_trampoline(backend)
total = sum(f() for f in funcs)
""" + FLUSH_THEN_DEACTIVATE


class TestResourceLimits(RobustCase):
    """mmap refused (RLIMIT_AS) and RLIMIT_FSIZE: no crash, no torn line or
    record, one warning, untrampolined calls go on."""

    @unittest.skipIf(UNDER_ASAN, "ASan reserves terabytes of address "
                     "space: RLIMIT_AS cannot be lowered under it")
    def test_mmap_refused(self):
        for backend in BACKENDS:
            for when in ("before", "after", "exact"):
                with self.subTest(backend=backend, when=when):
                    _, res = self.run_script(RLIMIT_AS_CHILD,
                                             args=[backend, when])
                    v = res.values()
                    self.assertEqual(v["total"], "700", res)
                    self.assertEqual(v["active"], "False", res)
                    self.assertEqual(v["later"], "5")
                    self.assertEqual(v["active2"], "True", res)
                    self.assertEqual(self.count_warnings(res), 1, res)
                    self.assertRegex(res.err, "memory|map", res)
                    if os.path.exists(map_path(res.pid)):
                        self.read_map(res.pid)
                    if os.path.exists(dump_path(res.pid)):
                        self.check_dump(res.pid)

    def run_fsize(self, backend, limit, n, mode):
        _, res = self.run_script(FSIZE_CHILD,
                                 args=[backend, str(limit), str(n), mode])
        v = res.values()
        self.assertEqual(v["total"], str(2 * n), res)
        self.assertEqual(v["deactivate"], "ok", res)
        self.assertEqual(self.count_warnings(res, "File too large"), 1, res)
        if backend == "perf":
            self.assertLessEqual(os.path.getsize(map_path(res.pid)), limit)
            lines = self.read_map(res.pid)
            self.assertLess(len(lines), n)
        else:
            self.assertLessEqual(os.path.getsize(dump_path(res.pid)), limit)
            self.check_dump(res.pid, require_close=False)

    def test_fsize_while_running(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_fsize(backend, 8192, 3000, "run")

    def test_fsize_at_deactivation(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_fsize(backend, 100, 50, "deactivate")

    def test_fsize_at_periodic_flush(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.run_fsize(backend, 100, 50, "wait")


FSIZE_AGAIN_CHILD = MAKE + r"""
import resource, sys
backend = sys.argv[1]
# The first flush (a full 64 KiB buffer) goes over the limit: the backend
# fails; with the limit lifted, activating it again describes everything.
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, resource.RLIM_INFINITY))
funcs = [make(f"again_{i:04d}_{'x' * 100}") for i in range(400)]
sys.activate_stack_trampoline(backend)
total = sum(f() for f in funcs)
print(f"active_after_failure={sys.is_stack_trampoline_active()}")
resource.setrlimit(resource.RLIMIT_FSIZE,
                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
sys.activate_stack_trampoline(backend)
total += sum(f() for f in funcs)
print(f"active_again={sys.is_stack_trampoline_active()}")
sys.deactivate_stack_trampoline()
print(f"total={total}")
"""


class TestFailedOutputReused(RobustCase):
    """A write that failed drops what was pending; activated again, the
    backend describes every function again.  The jitdump, made afresh,
    has one CODE_LOAD per function (it had the dropped copies as well: 562
    for 403, which perf inject merges wrongly).  The map is appended to:
    the lines written before the failure stay, so a function may be named
    twice, always with the same address and name."""

    def test_activate_again_after_failed_flush(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                _, res = self.run_script(FSIZE_AGAIN_CHILD, args=[backend])
                v = res.values()
                self.assertEqual(v["total"], str(800), res)
                self.assertEqual(v["active_after_failure"], "False", res)
                self.assertEqual(v["active_again"], "True", res)
                if backend == "perf":
                    lines = [line for line in self.read_map(res.pid)
                             if b" py::again_" in line]
                    names = {line.split(b" ", 2)[2] for line in lines}
                    # One name per address.
                    by_addr = {}
                    for line in lines:
                        addr, _, name = line.split(b" ", 2)
                        self.assertEqual(by_addr.setdefault(addr, name),
                                         name, res)
                else:
                    loads = [n for n in self.check_dump(
                        res.pid, require_close=False)
                        if n.startswith("py::again_")]
                    self.assertEqual(len(loads), 400, res)
                    names = set(loads)
                self.assertEqual(len(names), 400, res)


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------

THREADS_NEW_FUNCTIONS = MAKE + r"""
import sys, threading
nthreads, per_thread = int(sys.argv[1]), int(sys.argv[2])
sys.setswitchinterval(1e-6)
barrier = threading.Barrier(nthreads)
results = [None] * nthreads
def worker(k):
    funcs = [make(f"t{k}_f{i}", result=i) for i in range(per_thread)]
    barrier.wait()
    results[k] = sum(f() for f in funcs)
threads = [threading.Thread(target=worker, args=(k,))
           for k in range(nthreads)]
for t in threads: t.start()
for t in threads: t.join()
print(f"ok={results == [sum(range(per_thread))] * nthreads}")
"""

TOGGLER = MAKE + r"""
import sys, threading
sys.setswitchinterval(1e-5)
stop = threading.Event()
counts = {}
def worker(k):
    n = 0
    while not stop.is_set():
        # A new identity now and then, an old one every time.
        if n % 10 == 0:
            make(f"w{k}_new{n}")()
        n += make_cached(k)()
    counts[k] = n
cache = {}
def make_cached(k):
    if k not in cache:
        cache[k] = make(f"w{k}_hot")
    return cache[k]
def toggler(rounds, backends):
    for i in range(rounds):
        sys.activate_stack_trampoline(backends[i % len(backends)])
        make(f"toggler_{i % 7}")()
        sys.deactivate_stack_trampoline()
workers = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
for t in workers: t.start()
backends = sys.argv[1].split(",")
t = threading.Thread(target=toggler, args=(int(sys.argv[2]), backends))
t.start()
t.join()
stop.set()
for w in workers: w.join()
print(f"ok={len(counts) == 6 and all(v > 0 for v in counts.values())}")
"""

SUBINTERPRETERS = r"""
import sys, threading
import _xxsubinterpreters as interpreters
code = '''if 1:
    import sys
    def sub_f(n):
        return n + 1
    def sub_g(n):
        return sum(sub_f(i) for i in range(n))
    assert sub_g(100) == 5050
    # The main interpreter keeps BACKEND active: the other backend is
    # refused here (one output per process), whatever the threads do.
    other = "perf_jit" if BACKEND == "perf" else "perf"
    for i in range(40):
        sys.activate_stack_trampoline(BACKEND)
        assert sub_g(10) == 55
        try:
            sys.activate_stack_trampoline(other)
        except RuntimeError:
            pass
        else:
            raise AssertionError("switched the output of the process")
        assert sys.is_stack_trampoline_active()
        sys.deactivate_stack_trampoline()
        assert sub_g(10) == 55
    sys.activate_stack_trampoline(BACKEND)
    assert sub_g(10) == 55
    # left active: destroyed while active
'''
backend = sys.argv[1]
code = code.replace("BACKEND", repr(backend))
def main_f():
    return 1
sys.activate_stack_trampoline(backend)
# Sequential: create, run, destroy, many times.
for i in range(10):
    interp = interpreters.create()
    interpreters.run_string(interp, code)
    interpreters.destroy(interp)
    main_f()
# In threads, several at once.
errors = []
def in_thread():
    try:
        for _ in range(3):
            interp = interpreters.create()
            interpreters.run_string(interp, code)
            interpreters.destroy(interp)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=in_thread) for _ in range(4)]
for t in threads: t.start()
for _ in range(200):
    main_f()
for t in threads: t.join()
# The main interpreter's state is its own.
sys.activate_stack_trampoline(backend)
print(f"main={main_f()}")
print(f"errors={errors}")
print(f"active={sys.is_stack_trampoline_active()}")
# A subinterpreter still alive at exit.
interp = interpreters.create()
interpreters.run_string(interp, code)
"""


class TestConcurrency(RobustCase):

    def test_threads_new_functions(self):
        # 8 threads x 2,000 new functions: every one described exactly
        # once, nothing torn.
        nthreads, per_thread = 8, scaled(2000)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                script, res = self.run_script(
                    THREADS_NEW_FUNCTIONS, "-X", backend,
                    args=[str(nthreads), str(per_thread)])
                self.assertEqual(res.values()["ok"], "True", res)
                names = self.output_names(backend, res.pid)
                expected = {f"py::t{k}_f{i}:{script}"
                            for k in range(nthreads)
                            for i in range(per_thread)}
                got = [n for n in names if n.startswith("py::t")]
                self.assertEqual(len(got), len(expected))
                self.assertEqual(set(got), expected)
                self.assertEqual(len(names), len(set(names)))

    def test_thread_toggling_while_others_call(self):
        # One (non-main) thread toggles 300 times while six others call
        # old and new functions.
        for backends in ("perf", "perf_jit", "perf,perf_jit,perf"):
            with self.subTest(backends=backends):
                _, res = self.run_script(TOGGLER, args=[backends, "300"])
                self.assertEqual(res.values()["ok"], "True", res)
                self.assertEqual(self.count_warnings(res), 0, res)
                if "perf_jit" in backends:
                    self.check_dump(res.pid)
                if "perf," in backends + ",":
                    self.read_map(res.pid)

    def test_concurrent_fini_without_gil(self):
        # The PyUnstable_* perf map API may be called without the GIL.
        # Four threads write entries (each first line starts the flusher
        # thread) and close the map at the same time, 300 times each: two
        # closers must never both join the flusher (a double
        # pthread_join() is undefined; glibc crashes or hangs).  ctypes.CDLL
        # functions run with the GIL released.
        _, res = self.run_script("""
            import ctypes, sys, threading
            api = ctypes.CDLL(None)
            api.PyUnstable_WritePerfMapEntry.argtypes = [
                ctypes.c_void_p, ctypes.c_uint, ctypes.c_char_p]
            rounds = int(sys.argv[1])
            errors = []
            barrier = threading.Barrier(4)
            def worker(k):
                for i in range(rounds):
                    barrier.wait()
                    if api.PyUnstable_PerfMapState_Init() != 0:
                        errors.append(("init", k, i))
                    addr = 0x100000 + (k * rounds + i) * 16
                    if api.PyUnstable_WritePerfMapEntry(
                            addr, 16, b"jit_%d_%d" % (k, i)) != 0:
                        errors.append(("write", k, i))
                    api.PyUnstable_PerfMapState_Fini()
            threads = [threading.Thread(target=worker, args=(k,))
                       for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"errors={errors}")
            """, args=[str(scaled(300))])
        self.assertEqual(res.values()["errors"], "[]", res)
        # Every entry that was written is a whole line.
        lines = self.read_map(res.pid, strict=False)
        self.assertTrue(all(b" jit_" in line for line in lines), lines[:5])

    def test_many_toggles_one_thread(self):
        _, res = self.run_script("""
            import sys, time
            def f():
                return 1
            start = time.monotonic()
            total = 0
            for i in range(100_000):
                sys.activate_stack_trampoline("perf")
                total += f()
                sys.deactivate_stack_trampoline()
            print(f"total={total}")
            print(f"seconds={time.monotonic() - start:.2f}")
            print(f"active={sys.is_stack_trampoline_active()}")
            sys.activate_stack_trampoline("perf")
            print(f"active2={sys.is_stack_trampoline_active()}")
            """)
        v = res.values()
        self.assertEqual(v["total"], "100000")
        self.assertEqual(v["active"], "False")
        self.assertEqual(v["active2"], "True")
        lines = self.read_map(res.pid)
        self.assertEqual(len([n for n in self.map_names(lines)
                              if n.startswith("py::f:")]), 1)

    def test_alternating_backends(self):
        # perf -> perf_jit -> perf ... 2,000 switches, each with a call.
        _, res = self.run_script("""
            import sys
            def f():
                return 1
            total = 0
            for i in range(2000):
                sys.activate_stack_trampoline(("perf", "perf_jit")[i % 2])
                total += f()
            sys.deactivate_stack_trampoline()
            print(f"total={total}")
            """)
        self.assertEqual(res.values()["total"], "2000")
        self.read_map(res.pid)
        self.check_dump(res.pid)

    def test_daemon_threads_at_exit(self):
        # Daemon threads inside trampolines at exit: creating new functions
        # (so in the writers), sleeping, blocked on a lock.  Repeated, as
        # the interleavings vary.
        source = MAKE + r"""
import sys, threading, time
def creator(k):
    i = 0
    while True:
        make(f"d{k}_{i}")()
        i += 1
def sleeper():
    def deep(n):
        if n:
            return deep(n - 1)
        time.sleep(1000)
    deep(20)
lock = threading.Lock()
lock.acquire()
def blocked():
    def hold():
        lock.acquire()
    hold()
for k in range(3):
    threading.Thread(target=creator, args=(k,), daemon=True).start()
threading.Thread(target=sleeper, daemon=True).start()
threading.Thread(target=blocked, daemon=True).start()
time.sleep(float(sys.argv[1]))
print("exiting")
"""
        for backend in BACKENDS:
            for i in range(scaled(6, 2)):
                with self.subTest(backend=backend, i=i):
                    _, res = self.run_script(source, "-X", backend,
                                             args=[str(0.01 * i)])
                    self.assertIn("exiting", res.out)
                    if backend == "perf":
                        self.read_map(res.pid)
                    else:
                        self.check_dump(res.pid)

    def test_subinterpreters(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                script, res = self.run_script(SUBINTERPRETERS,
                                              args=[backend])
                v = res.values()
                self.assertEqual(v["main"], "1", res)
                self.assertEqual(v["errors"], "[]", res)
                self.assertEqual(v["active"], "True", res)
                self.assertEqual(self.count_warnings(res), 0, res)
                if backend == "perf":
                    names = self.map_names(self.read_map(res.pid))
                    other = dump_path(res.pid)
                else:
                    names = self.check_dump(res.pid)
                    other = map_path(res.pid)
                for name in ("py::sub_f:<string>", "py::sub_g:<string>",
                             f"py::main_f:{script}"):
                    self.assertIn(name, names)
                self.assertFalse(os.path.exists(other), other)


# ---------------------------------------------------------------------------
# Coexistence
# ---------------------------------------------------------------------------

TRACED = r"""
import sys, threading
events = []
def tracer(frame, event, arg):
    if frame.f_code.co_filename == __file__:
        events.append((event, frame.f_code.co_qualname, frame.f_lineno))
    return tracer
def prof(frame, event, arg):
    if event.startswith("c_") or frame.f_code.co_filename == __file__:
        events.append(("P", event, frame.f_code.co_qualname,
                       getattr(arg, "__name__", None)))
def leaf(x):
    if x == 3:
        raise ValueError(x)
    return x * 2
def gen(n):
    for i in range(n):
        yield leaf(i)
async def coro():
    return [leaf(i) for i in range(3)]
def middle():
    out = []
    try:
        for v in gen(5):
            out.append(v)
    except ValueError:
        out.append("caught")
    c = coro()
    try:
        c.send(None)
    except StopIteration as stop:
        out.append(stop.value)
    out.append(len(sorted([3, 1, 2], key=lambda v: -v)))
    return out
def toggle_inside():
    sys.activate_stack_trampoline(BACKEND) if BACKEND else None
    r = middle()
    sys.deactivate_stack_trampoline()
    return r
sys.settrace(tracer)
r1 = middle()
r2 = toggle_inside()
sys.settrace(None)
sys.setprofile(prof)
r3 = middle()
sys.setprofile(None)
threading.settrace(tracer)
t = threading.Thread(target=middle)
t.start(); t.join()
threading.settrace(None)
print(f"results={[r1, r2, r3]!r}")
for e in events:
    print(e)
"""


class TestCoexistence(RobustCase):

    def test_trace_and_profile_see_the_same(self):
        # settrace / setprofile / threading.settrace observe exactly the
        # same events with and without trampolines.
        def run(options, backend):
            source = TRACED.replace("BACKEND", repr(backend))
            _, res = self.run_script(source, *options)
            return res.out
        plain = run([], "")
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.assertEqual(run(["-X", backend], backend), plain)
                self.assertEqual(run([], backend), plain)

    def test_debug_allocators(self):
        # The debug allocators check every block: threads, toggles, both
        # backends and a fork.
        source = MAKE + r"""
import os, sys, threading
def work(k):
    for i in range(300):
        make(f"dbg{k}_{i}")()
threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads: t.start()
for i in range(50):
    sys.activate_stack_trampoline(("perf", "perf_jit")[i % 2])
    work(100 + i)
for t in threads: t.join()
pid = os.fork()
if pid == 0:
    work(999)
    os._exit(0)
print(f"pid={pid}")
os.waitpid(pid, 0)
sys.deactivate_stack_trampoline()
print("done")
"""
        allocators = ["debug", "malloc_debug"]
        if WITH_PYMALLOC == "1":
            allocators.append("pymalloc_debug")
        for allocator in allocators:
            with self.subTest(allocator=allocator):
                _, res = self.run_script(
                    source, env=child_env(PYTHONMALLOC=allocator))
                self.assertIn("done", res.out)
                self.read_map(res.pid)
                self.check_dump(res.pid)

    def test_faulthandler_tracebacks(self):
        source = r"""
import faulthandler, sys
def level3():
    faulthandler.dump_traceback(all_threads=False)
def level2():
    level3()
def level1():
    level2()
level1()
"""
        _, plain = self.run_script(source)
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                _, res = self.run_script(source, "-X", backend)
                self.assertEqual(res.err, plain.err)
                self.assertIn("level3", res.err)

    def test_faulthandler_fatal_signal(self):
        # A real crash inside trampolined frames: faulthandler walks the
        # frames and reports them; the process dies of the signal.
        source = r"""
import faulthandler, sys
faulthandler.enable()
def crash_here():
    faulthandler._sigsegv()
def outer():
    crash_here()
outer()
"""
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                _, res = self.run_script(source, "-X", backend, rc=None)
                self.assertEqual(res.rc, -signal.SIGSEGV, res)
                self.assertIn("Fatal Python error: Segmentation fault",
                              res.err)
                self.assertIn("in crash_here", res.err)
                self.assertIn("in outer", res.err)

    def test_faulthandler_later(self):
        source = r"""
import faulthandler, time
def sleeping():
    time.sleep(0.5)
faulthandler.dump_traceback_later(0.1)
sleeping()
"""
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                _, res = self.run_script(source, "-X", backend)
                self.assertIn("in sleeping", res.err)

    def test_foreign_hook_installed_while_active(self):
        # Another tool replaces our hook while we are active: it keeps it.
        # We say we are inactive, deactivation leaves it alone, activation
        # refuses with RuntimeError, and after the tool leaves we work.
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                script, res = self.run_script(r"""
import sys, _testinternalcapi as t
def f():
    return 1
sys.activate_stack_trampoline(BACKEND)
f()
record = []
t.set_eval_frame_record(record)
def g():
    return 2
g()
print(f"active1={sys.is_stack_trampoline_active()}")
sys.deactivate_stack_trampoline()
def h():
    return 3
h()
print(f"recorded={[n for n in record if n in ('g', 'h', 'k')]}")
try:
    sys.activate_stack_trampoline(BACKEND)
    print("activate=ok")
except RuntimeError as exc:
    print(f"activate=RuntimeError")
print(f"active2={sys.is_stack_trampoline_active()}")
def k():
    return 4
k()
print(f"recorded2={[n for n in record if n in ('g', 'h', 'k')]}")
t.set_eval_frame_default()
sys.activate_stack_trampoline(BACKEND)
def after():
    return 5
after()
print(f"active3={sys.is_stack_trampoline_active()}")
""".replace("BACKEND", repr(backend)))
                v = res.values()
                self.assertEqual(v["active1"], "False", res)
                self.assertEqual(v["recorded"], "['g', 'h']", res)
                self.assertEqual(v["activate"], "RuntimeError", res)
                self.assertEqual(v["active2"], "False")
                self.assertEqual(v["recorded2"], "['g', 'h', 'k']")
                self.assertEqual(v["active3"], "True")
                names = self.output_names(backend, res.pid)
                self.assertIn(f"py::f:{script}", names)
                self.assertIn(f"py::after:{script}", names)
                for func in ("g", "h", "k"):
                    self.assertNotIn(f"py::{func}:{script}", names)

    def test_foreign_hook_refused_nothing_changed(self):
        # Activation refused: no file, no state change, for both backends
        # and from the -X switch (a warning at startup is not possible
        # then: the hook comes later), with a code-extra user present.
        _, res = self.run_script(r"""
import sys, _testinternalcapi as t
t.set_eval_frame_record([])
for backend in ("perf", "perf_jit", "perf"):
    try:
        sys.activate_stack_trampoline(backend)
        print("activate=ok")
    except RuntimeError:
        print("activate=RuntimeError")
print(f"active={sys.is_stack_trampoline_active()}")
sys.deactivate_stack_trampoline()
t.set_eval_frame_default()
""")
        self.assertEqual(res.out.count("activate=RuntimeError"), 3, res)
        self.assertEqual(res.values()["active"], "False")
        self.assertFalse(os.path.exists(map_path(res.pid)))
        self.assertFalse(os.path.exists(dump_path(res.pid)))


# ---------------------------------------------------------------------------
# fork storm
# ---------------------------------------------------------------------------

FORK_STORM = MAKE + r"""
import os, sys, threading
backend, n, persist = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
if persist:
    import _testinternalcapi
    _testinternalcapi.perf_trampoline_set_persist_after_fork(1)
sys.activate_stack_trampoline(backend)
def parent_fn():
    return 1
def shared_fn():
    return 2
parent_fn(); shared_fn()
stop = threading.Event()
def background():
    # New code objects all the time, 300 identities (a parent whose dump
    # grows without bound makes every persist-after-fork copy longer).
    i = 0
    while not stop.is_set():
        make(f"bg_{i % 300}")()
        i += 1
bg = threading.Thread(target=background)
bg.start()
bad = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        make(f"child_only_{i}")()
        shared_fn()
        if i % 2:
            os._exit(0)
        sys.exit(0)
    print(f"pid={pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    if status:
        bad.append((pid, status))
stop.set()
bg.join()
print(f"bad={bad}")
"""


@unittest.skipUnless(hasattr(os, "fork"), "needs fork")
class TestForkStorm(RobustCase):
    """200 forks under each backend while a thread keeps creating
    functions; children call old and new functions and leave by sys.exit
    or os._exit.  Every file well-formed, the parent's file has nothing of
    the children."""

    def storm(self, backend, n, persist):
        script, res = self.run_script(FORK_STORM,
                                      args=[backend, str(n),
                                            "1" if persist else "0"])
        self.assertEqual(res.values()["bad"], "[]", res)
        children = [int(p) for p in PID_LINE.findall(res.out)]
        self.assertEqual(len(children), n)
        # Warnings only for children whose pid had a leftover file (the
        # jitdump backend rightly refuses those).
        stale = [str(pid) for pid in children if not self.is_fresh(pid)]
        for line in res.err.splitlines():
            if "RuntimeWarning" in line:
                self.assertTrue(any(f"-{pid}." in line for pid in stale),
                                res)
        parent = self.output_names(backend, res.pid)
        self.assertIn(f"py::parent_fn:{script}", parent)
        self.assertFalse([x for x in parent if "child_only_" in x])
        checked = 0
        for i, pid in enumerate(children):
            if not self.is_fresh(pid):
                continue        # a leftover of an older process
            checked += 1
            names = self.output_names(backend, pid,
                                      require_close=i % 2 == 0)
            mine = f"py::child_only_{i}:{script}"
            self.assertEqual(names.count(mine), 1, (pid, names[:20]))
            self.assertIn(f"py::shared_fn:{script}", names)
            others = [x for x in names
                      if "child_only_" in x and x != mine]
            self.assertEqual(others, [], pid)
            if persist:
                self.assertIn(f"py::parent_fn:{script}", names)
            else:
                self.assertNotIn(f"py::parent_fn:{script}", names)
                # Nothing of the parent's background thread either.
                self.assertFalse([x for x in names if "py::bg_" in x])
        self.assertGreater(checked, n // 2)

    def test_fork_storm_perf(self):
        self.storm("perf", scaled(200, 10), persist=False)

    def test_fork_storm_perf_jit(self):
        self.storm("perf_jit", scaled(200, 10), persist=False)

    def test_fork_storm_persist(self):
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                self.storm(backend, scaled(50, 10), persist=True)


# Debian's python3-greenlet is built for its python3.11, whose ABI ours
# keeps: greenlet switches C stacks under a thread, copying slices of the
# stack away and back, which is exactly what the frame records of inlined
# calls (pycore_perf.h) must survive without trusting stale pointers.
GREENLET_DIR = "/usr/lib/python3/dist-packages/greenlet"

GREENLET_SCRIPT = r"""
import os, sys
sys.path.insert(0, GREENLET_PARENT)
import greenlet
print(f"pid={os.getpid()}", flush=True)

def chain(n, other, depth):
    # Inlined calls nested up to 34 deep (more than one reserve's worth),
    # switching greenlets at the bottom and on the way back up.
    if n == 0:
        return other.switch(depth)
    r = chain(n - 1, other, depth)
    if n % 7 == 0:
        other.switch(n)
    return r + 1

def worker(n):
    total = 0
    while True:
        total += chain(n, main, n)

def boom(n):
    # Unwinding through records in a greenlet that raises.
    if n == 0:
        main.switch(0)
        raise KeyError(n)
    return boom(n - 1)

main = greenlet.getcurrent()
workers = [greenlet.greenlet(worker) for _ in range(4)]
switches = 0
for rnd in range(ROUNDS):
    for i, g in enumerate(workers):
        g.switch(10 + (rnd + i) % 25)
        switches += 1
    if rnd % 50 == 0:
        sys.deactivate_stack_trampoline()
        sys.activate_stack_trampoline(BACKEND)
    g = greenlet.greenlet(boom)
    g.switch(20)
    try:
        g.switch()
    except KeyError:
        pass
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
print("switches", switches, "fib", fib(20), flush=True)
"""


@unittest.skipUnless(os.path.isdir(GREENLET_DIR),
                     "python3-greenlet (Debian) is not installed; "
                     "make deps installs it")
@unittest.skipIf(UNDER_ASAN, "ASan does not follow greenlet's stack "
                 "switching (greenlet is not built with it)")
class TestStackSwitching(RobustCase):

    def test_greenlet_switches_inside_inlined_calls(self):
        # A stale thread-local top record after a switch must never make
        # a pop write through words that are not a record's (a crash or a
        # corrupted return), and results stay right.
        parent = tempfile.mkdtemp(prefix="perf-greenlet-")
        self.addCleanup(shutil.rmtree, parent, True)
        shutil.copytree(GREENLET_DIR, os.path.join(parent, "greenlet"))
        for backend in BACKENDS:
            with self.subTest(backend=backend):
                source = (GREENLET_SCRIPT
                          .replace("GREENLET_PARENT", repr(parent))
                          .replace("BACKEND", repr(backend))
                          .replace("ROUNDS", str(scaled(20000, 2000))))
                _, res = self.run_script(source, "-X", backend)
                self.assertIn("fib 6765", res.out, res)
                names = self.output_names(backend, res.pid)
                for func in ("chain", "worker", "boom"):
                    self.assertTrue(
                        any(n.startswith(f"py::{func}:") for n in names),
                        f"{func} not described to the {backend} output")


if __name__ == "__main__":
    unittest.main()
