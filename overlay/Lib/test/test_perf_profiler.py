"""Tests for the Linux perf profiler support.

Covers sys.activate_stack_trampoline() and friends, the -X perf / -X perf_jit
options and the PYTHONPERFSUPPORT / PYTHON_PERF_JIT_SUPPORT environment
variables, the perf map file (/tmp/perf-<pid>.map), the jitdump file
(/tmp/jit-<pid>.dump), fork handling, the _testinternalcapi helpers of the
perf map C API, and, when a usable perf is installed, the stacks perf itself
records.

Everything that changes the trampoline state for good, or that depends on
startup options, runs in a child interpreter.  Every child's pid is known to
the test (subprocess pid, or printed as "pid=<n>" by the child for processes
it forks) and its /tmp files are removed afterwards.
"""

import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import unittest
from collections import namedtuple

from test import support
from test.support import import_helper
from test.support import os_helper
from test.support import script_helper

if not support.has_subprocess_support:
    raise unittest.SkipTest("test requires subprocess support")

if not sysconfig.get_config_var("PY_HAVE_PERF_TRAMPOLINE"):
    raise unittest.SkipTest("perf trampoline support is not built in "
                            "(PY_HAVE_PERF_TRAMPOLINE is not set)")


PERF_ENV_VARS = ("PYTHONPERFSUPPORT", "PYTHON_PERF_JIT_SUPPORT")

# <start hex> <size hex> py::<qualname>:<filename>
MAP_LINE_RE = re.compile(r"[0-9a-f]+ [0-9a-f]+ py::\S.*:.*")
# Anything that ends a line for perf or for str.splitlines().
CONTROL_CHAR_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Children print "pid=<n>" for every process whose files must be removed.
PID_LINE_RE = re.compile(r"^pid=(\d+)$", re.MULTILINE)

JITDUMP_MAGIC = 0x4A695444
JIT_CODE_LOAD = 0
JIT_CODE_MOVE = 1
JIT_CODE_DEBUG_INFO = 2
JIT_CODE_CLOSE = 3
JIT_CODE_UNWINDING_INFO = 4
JIT_ELF_MACHINES = (62, 183)     # EM_X86_64, EM_AARCH64


def perf_map_file(pid):
    return f"/tmp/perf-{pid}.map"


def jit_dump_file(pid):
    return f"/tmp/jit-{pid}.dump"


def remove_perf_files(pid):
    os_helper.unlink(perf_map_file(pid))
    os_helper.unlink(jit_dump_file(pid))


def remove_own_stale_files():
    """preexec_fn of children: pids are reused, and a file left behind by an
    earlier process with the child's pid must not pass for the child's."""
    pid = os.getpid()
    for path in (perf_map_file(pid), jit_dump_file(pid)):
        try:
            os.unlink(path)
        except OSError:
            pass


# The same for a command run by perf: sh execs the command in its own pid.
STALE_FILES_WRAPPER = ["/bin/sh", "-c",
                       'rm -f "/tmp/perf-$$.map" "/tmp/jit-$$.dump"; '
                       'exec "$@"', "sh"]


def child_env(**overrides):
    """The environment for a child: ours, minus the perf switches."""
    env = dict(os.environ)
    for name in PERF_ENV_VARS:
        env.pop(name, None)
    env.update(overrides)
    return env


ChildResult = namedtuple("ChildResult", "rc out err pid")
JitDump = namedtuple("JitDump", "header records")
JitRecord = namedtuple("JitRecord", "id size timestamp fields")


def parse_jitdump(data):
    """Parse a jitdump file; raise ValueError if it is malformed."""
    if len(data) < 40:
        raise ValueError(f"jitdump shorter than its header: {len(data)} bytes")
    (magic, version, total_size, elf_mach, pad, pid,
     timestamp, flags) = struct.unpack_from("=IIIIIIQQ", data, 0)
    header = dict(magic=magic, version=version, total_size=total_size,
                  elf_mach=elf_mach, pad=pad, pid=pid, timestamp=timestamp,
                  flags=flags)
    if magic != JITDUMP_MAGIC:
        raise ValueError(f"bad magic {magic:#x}")
    offset = total_size
    records = []
    while offset < len(data):
        if len(data) - offset < 16:
            raise ValueError(f"torn record prefix at offset {offset}")
        rec_id, size, ts = struct.unpack_from("=IIQ", data, offset)
        if size < 16 or offset + size > len(data):
            raise ValueError(f"bad record size {size} (id {rec_id}) at "
                             f"offset {offset} of {len(data)}")
        fields = {}
        if rec_id == JIT_CODE_LOAD:
            (fields["pid"], fields["tid"], fields["vma"], fields["code_addr"],
             fields["code_size"], fields["code_index"]) = struct.unpack_from(
                "=IIQQQQ", data, offset + 16)
            name_start = offset + 16 + 40
            name_end = data.find(b"\0", name_start, offset + size)
            if name_end < 0:
                raise ValueError(f"unterminated CODE_LOAD name at {offset}")
            fields["name"] = data[name_start:name_end].decode("utf-8")
            code_end = name_end + 1 + fields["code_size"]
            if code_end > offset + size:
                raise ValueError(f"CODE_LOAD code overruns its record at "
                                 f"{offset}")
            fields["code"] = data[name_end + 1:code_end]
        records.append(JitRecord(rec_id, size, ts, fields))
        offset += size
    return JitDump(header, records)


class PerfTestCase(unittest.TestCase):
    """Helpers: run children, read and check their perf files."""

    def tmpdir(self):
        if not hasattr(self, "_tmpdir"):
            self._tmpdir = self.enterContext(os_helper.temp_dir())
        return self._tmpdir

    def make_script(self, source, name="script"):
        return script_helper.make_script(self.tmpdir(), name,
                                         textwrap.dedent(source))

    def track_pid(self, pid):
        self.addCleanup(remove_perf_files, pid)

    def run_python(self, *args, env=None, rc=0, stdin=None):
        """Run sys.executable with args; check the exit code against rc
        (unless rc is None) and return a ChildResult."""
        cmd = [sys.executable, "-X", "faulthandler", *args]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env=child_env(**(env or {})),
                                preexec_fn=remove_own_stale_files)
        self.track_pid(proc.pid)
        with proc:
            try:
                out, err = proc.communicate(stdin,
                                            timeout=support.SHORT_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                self.fail(f"child timed out: {cmd}\nstdout:\n"
                          f"{out.decode(errors='replace')}\nstderr:\n"
                          f"{err.decode(errors='replace')}")
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
        for pid in PID_LINE_RE.findall(out):
            self.track_pid(int(pid))
        if rc is not None and proc.returncode != rc:
            self.fail(f"child exited with {proc.returncode}, expected {rc}: "
                      f"{cmd}\nstdout:\n{out}\nstderr:\n{err}")
        return ChildResult(proc.returncode, out, err, proc.pid)

    def run_script(self, source, *options, args=(), env=None, rc=0,
                   name="script"):
        script = self.make_script(source, name)
        return script, self.run_python(*options, script, *args, env=env,
                                       rc=rc)

    @staticmethod
    def child_pids(out):
        return [int(pid) for pid in PID_LINE_RE.findall(out)]

    @staticmethod
    def values(out):
        """Parse 'key=value' lines printed by a child into a dict."""
        result = {}
        for line in out.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                result[key] = value
        return result

    def read_perf_map(self, pid, check_format=True):
        """Return the lines of /tmp/perf-<pid>.map after checking the file:
        regular file, mode 0600, ours, valid UTF-8, no torn last line,
        and (check_format) every line in the trampoline format."""
        path = perf_map_file(pid)
        self.assertTrue(os.path.lexists(path), f"{path} does not exist")
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), f"{path} is not a file")
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                         f"{path} has mode {stat.S_IMODE(st.st_mode):o}")
        self.assertEqual(st.st_uid, os.geteuid())
        with open(path, "rb") as f:
            data = f.read()
        if data:
            self.assertTrue(data.endswith(b"\n"),
                            f"{path} ends with a torn line: {data[-100:]!r}")
        lines = data.decode("utf-8").split("\n")[:-1]
        if check_format:
            self.assertWellFormedMap(lines)
        return lines

    def assertWellFormedMap(self, lines):
        for line in lines:
            self.assertIsNotNone(MAP_LINE_RE.fullmatch(line),
                                 f"malformed perf map line: {line!r}")
            self.assertIsNone(CONTROL_CHAR_RE.search(line),
                              f"control character in map line: {line!r}")

    @staticmethod
    def map_names(lines):
        """The entry names (third field) of perf map lines."""
        return [line.split(" ", 2)[2] for line in lines]

    def perf_map_names(self, pid):
        """The entry names of the checked /tmp/perf-<pid>.map."""
        return self.map_names(self.read_perf_map(pid))

    def assertNamed(self, names, filename, present=(), absent=()):
        """names has an entry py::<qualname>:<filename> for each qualname
        in present, and none for those in absent."""
        for qualname in present:
            self.assertIn(f"py::{qualname}:{filename}", names)
        for qualname in absent:
            self.assertNotIn(f"py::{qualname}:{filename}", names)

    def read_jitdump(self, pid):
        path = jit_dump_file(pid)
        self.assertTrue(os.path.exists(path), f"{path} does not exist")
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        with open(path, "rb") as f:
            data = f.read()
        try:
            dump = parse_jitdump(data)
        except ValueError as exc:
            self.fail(f"{path} is malformed: {exc}")
        header = dump.header
        self.assertEqual(header["version"], 1)
        self.assertEqual(header["total_size"], 40)
        self.assertIn(header["elf_mach"], JIT_ELF_MACHINES)
        self.assertEqual(header["pad"], 0)
        self.assertEqual(header["pid"], pid)
        self.assertEqual(header["flags"], 0)
        return dump

    @staticmethod
    def jit_names(dump):
        return [r.fields["name"] for r in dump.records
                if r.id == JIT_CODE_LOAD]


# ---------------------------------------------------------------------------
# 1. The sys API
# ---------------------------------------------------------------------------

class TestSysAPI(PerfTestCase):

    def setUp(self):
        # These tests never change the state of this process, whatever it
        # is (the test suite itself may run under -X perf).
        self.was_active = sys.is_stack_trampoline_active()
        self.addCleanup(self.check_state_unchanged)

    def check_state_unchanged(self):
        self.assertEqual(sys.is_stack_trampoline_active(), self.was_active)

    def test_functions_exist(self):
        for name in ("activate_stack_trampoline",
                     "deactivate_stack_trampoline",
                     "is_stack_trampoline_active"):
            with self.subTest(name=name):
                self.assertTrue(callable(getattr(sys, name, None)))
        self.assertIsInstance(sys.is_stack_trampoline_active(), bool)

    def test_activate_rejects_non_str(self):
        for backend in (None, 1, b"perf", bytearray(b"perf"), ["perf"]):
            with self.subTest(backend=backend):
                with self.assertRaises(TypeError):
                    sys.activate_stack_trampoline(backend)

    def test_activate_rejects_unknown_backend(self):
        for backend in ("foo", "", "PERF", "perf ", "perf_jit2", "jit"):
            with self.subTest(backend=backend):
                with self.assertRaises(ValueError) as cm:
                    sys.activate_stack_trampoline(backend)
                msg = str(cm.exception)
                self.assertIn("'perf'", msg)
                self.assertIn("'perf_jit'", msg)

    def test_activate_rejects_embedded_nul(self):
        # "perf\0..." must not be taken for "perf" by a C string compare.
        for backend in ("perf\0", "perf\0jit", "perf_jit\0"):
            with self.subTest(backend=backend):
                with self.assertRaises(ValueError):
                    sys.activate_stack_trampoline(backend)

    def test_signatures(self):
        with self.assertRaises(TypeError):
            sys.activate_stack_trampoline()
        with self.assertRaises(TypeError):
            sys.activate_stack_trampoline("perf", "perf")
        with self.assertRaises(TypeError):
            sys.activate_stack_trampoline(backend="perf")
        with self.assertRaises(TypeError):
            sys.deactivate_stack_trampoline(1)
        with self.assertRaises(TypeError):
            sys.is_stack_trampoline_active(1)

    def test_activate_deactivate(self):
        script, res = self.run_script("""
            import sys
            def called_once():
                return 1
            def show(key, value):
                print(f"{key}={value!r}")
            show("initial", sys.is_stack_trampoline_active())
            show("activate", sys.activate_stack_trampoline("perf"))
            show("active", sys.is_stack_trampoline_active())
            called_once()
            show("activate_again", sys.activate_stack_trampoline("perf"))
            show("active_again", sys.is_stack_trampoline_active())
            called_once()
            show("deactivate", sys.deactivate_stack_trampoline())
            show("inactive", sys.is_stack_trampoline_active())
            show("deactivate_again", sys.deactivate_stack_trampoline())
            show("inactive_again", sys.is_stack_trampoline_active())
            """)
        self.assertEqual(self.values(res.out), {
            "initial": "False",
            "activate": "None",
            "active": "True",
            "activate_again": "None",
            "active_again": "True",
            "deactivate": "None",
            "inactive": "False",
            "deactivate_again": "None",
            "inactive_again": "False",
        })
        names = self.perf_map_names(res.pid)
        self.assertEqual(names.count(f"py::called_once:{script}"), 1, names)

    def test_activate_during_finalization_refused(self):
        # After the output was finished at shutdown, an activation (here
        # from a __del__ run by the finalization) would fill buffers that
        # are never written: refused with an exception instead.
        _, res = self.run_script("""
            import builtins, sys
            def late():
                return 1
            class D:
                def __del__(self):
                    late()
                    sys.activate_stack_trampoline("perf")
            builtins.keep = D()
            """)
        self.assertIn("RuntimeError: cannot activate the perf trampoline: "
                      "the interpreter is shutting down", res.err)

    def test_deactivate_when_never_active(self):
        res = self.run_python("-c", textwrap.dedent("""
            import sys
            print(sys.deactivate_stack_trampoline())
            print(sys.deactivate_stack_trampoline())
            print(sys.is_stack_trampoline_active())
            """))
        self.assertEqual(res.out.split(), ["None", "None", "False"])
        self.assertFalse(os.path.exists(perf_map_file(res.pid)))
        self.assertFalse(os.path.exists(jit_dump_file(res.pid)))

    def test_switch_backend_while_active(self):
        script, res = self.run_script("""
            import sys
            def in_perf_1(): return 1
            def in_jit(): return 2
            def in_perf_2(): return 3
            sys.activate_stack_trampoline("perf")
            print(f"a={sys.is_stack_trampoline_active()}")
            in_perf_1()
            sys.activate_stack_trampoline("perf_jit")
            print(f"b={sys.is_stack_trampoline_active()}")
            in_jit()
            sys.activate_stack_trampoline("perf")
            print(f"c={sys.is_stack_trampoline_active()}")
            in_perf_2()
            sys.deactivate_stack_trampoline()
            print(f"d={sys.is_stack_trampoline_active()}")
            """)
        self.assertEqual(self.values(res.out),
                         {"a": "True", "b": "True", "c": "True", "d": "False"})
        self.assertNamed(self.perf_map_names(res.pid), script,
                         present=["in_perf_1", "in_perf_2"])
        self.assertNamed(self.jit_names(self.read_jitdump(res.pid)), script,
                         present=["in_jit"],
                         absent=["in_perf_1", "in_perf_2"])

    def test_generators_resumed_across_backend_switches(self):
        # Generators, coroutines and asynchronous generators are resumed
        # from C, through the hook, with trampolines made under an earlier
        # output.  Each output must get every function that runs while it
        # is current, once, however its frames are entered (a cache of
        # the trampoline that skipped the check of its description was
        # one of the ideas tried to make resumes cheaper).  A generator
        # started before activation is named once resumed.
        script, res = self.run_script("""
            import sys
            def early():
                while True:
                    yield 0
            def gen():
                while True:
                    yield 1
            class Suspend:
                def __await__(self):
                    yield 2
            async def coro():
                while True:
                    await Suspend()
            async def agen():
                while True:
                    yield 3
            def step(g, c, a):
                got = [next(g), c.send(None)]
                try:
                    a.asend(None).send(None)
                except StopIteration as e:
                    got.append(e.value)
                return got
            e = early()
            next(e)
            sys.activate_stack_trampoline("perf")
            next(e)
            objs = (gen(), coro(), agen())
            got = []
            for _ in range(3):
                got += step(*objs)
            sys.activate_stack_trampoline("perf_jit")
            for _ in range(3):
                got += step(*objs)
            next(e)
            sys.activate_stack_trampoline("perf")
            for _ in range(3):
                got += step(*objs)
            sys.deactivate_stack_trampoline()
            print(f"got={got}")
            """)
        self.assertEqual(self.values(res.out)["got"],
                         str([1, 2, 3] * 9))
        funcs = ["early", "gen", "coro", "agen"]
        for names in (self.perf_map_names(res.pid),
                      self.jit_names(self.read_jitdump(res.pid))):
            for func in funcs:
                with self.subTest(func=func):
                    self.assertEqual(names.count(f"py::{func}:{script}"), 1,
                                     names)

    def test_many_activation_cycles(self):
        # An implementation requesting a new code-extra index per activation
        # fails with SystemError after 254 cycles.
        script, res = self.run_script("""
            import sys
            def work(i):
                return i * 2
            total = 0
            for i in range(1000):
                sys.activate_stack_trampoline("perf")
                assert sys.is_stack_trampoline_active()
                total += work(i)
                sys.deactivate_stack_trampoline()
                assert not sys.is_stack_trampoline_active()
                total += work(i)
            print(f"total={total}")
            """)
        self.assertEqual(self.values(res.out)["total"],
                         str(2 * sum(i * 2 for i in range(1000))))
        names = self.perf_map_names(res.pid)
        self.assertEqual(names.count(f"py::work:{script}"), 1)

    def test_many_activation_cycles_perf_jit(self):
        script, res = self.run_script("""
            import sys
            def work(i):
                return i + 1
            total = 0
            for i in range(300):
                sys.activate_stack_trampoline("perf_jit")
                total += work(i)
                sys.deactivate_stack_trampoline()
            print(f"total={total}")
            """)
        self.assertEqual(self.values(res.out)["total"],
                         str(sum(range(1, 301))))
        jit_names = self.jit_names(self.read_jitdump(res.pid))
        self.assertEqual(jit_names.count(f"py::work:{script}"), 1)

    def test_alternating_backends(self):
        _, res = self.run_script("""
            import sys
            def work(i):
                return i
            total = 0
            for i in range(300):
                sys.activate_stack_trampoline("perf" if i % 2 else "perf_jit")
                total += work(i)
                if i % 3 == 0:
                    sys.deactivate_stack_trampoline()
            sys.deactivate_stack_trampoline()
            print(f"total={total}")
            """)
        self.assertEqual(self.values(res.out)["total"], str(sum(range(300))))
        self.read_perf_map(res.pid)
        self.read_jitdump(res.pid)

    def test_foreign_hook_calls_as_in_3_11(self):
        # Off means off, for another PEP 523 hook too: 3.11 runs a
        # specialized __getitem__ (BINARY_SUBSCR_GETITEM) inlined without
        # consulting the hook (3.12 changed that), and so must this build.
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
            import _testinternalcapi
            class C:
                def __getitem__(self, i):
                    return i
            def f():
                c = C()
                return sum(c[i] for i in range(20))
            f(); f()                    # specialized by now
            record = []
            _testinternalcapi.set_eval_frame_record(record)
            f()
            _testinternalcapi.set_eval_frame_default()
            print(f"seen={sorted(set(record))}")
            """)
        self.assertEqual(self.values(res.out)["seen"], "['<genexpr>', 'f']")

    def test_foreign_eval_frame_hook(self):
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
            import sys, _testinternalcapi
            def probe():
                return 1
            record = []
            _testinternalcapi.set_eval_frame_record(record)
            try:
                sys.activate_stack_trampoline("perf")
            except RuntimeError as exc:
                outcome = "RuntimeError"
            else:
                outcome = "no error"
            active = sys.is_stack_trampoline_active()
            probe()
            _testinternalcapi.set_eval_frame_default()
            print(f"outcome={outcome}")
            print(f"active={active}")
            print(f"hook_kept={'probe' in record}")
            # The default evaluator is back: activation works again.
            sys.activate_stack_trampoline("perf")
            print(f"active_later={sys.is_stack_trampoline_active()}")
            sys.deactivate_stack_trampoline()
            """)
        self.assertEqual(self.values(res.out), {
            "outcome": "RuntimeError", "active": "False", "hook_kept": "True",
            "active_later": "True"})

    def test_foreign_eval_frame_hook_perf_jit(self):
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
            import sys, _testinternalcapi
            _testinternalcapi.set_eval_frame_record([])
            try:
                sys.activate_stack_trampoline("perf_jit")
            except RuntimeError:
                print("outcome=RuntimeError")
            print(f"active={sys.is_stack_trampoline_active()}")
            _testinternalcapi.set_eval_frame_default()
            """)
        self.assertEqual(self.values(res.out),
                         {"outcome": "RuntimeError", "active": "False"})
        self.assertFalse(os.path.exists(jit_dump_file(res.pid)))


# ---------------------------------------------------------------------------
# 2. Startup options and environment variables
# ---------------------------------------------------------------------------

STATE_CODE = """\
import sys
def touch():
    return 1
touch()
print(sys.is_stack_trampoline_active())
"""


class TestStartup(PerfTestCase):

    def state(self, *options, env=None):
        """Run a child with options/env; return (active, backend) where
        backend is 'perf', 'perf_jit', 'both' or None, judged by the files
        the child left."""
        res = self.run_python(*options, "-c", STATE_CODE, env=env)
        self.assertIn(res.out.strip(), ("True", "False"), res)
        active = res.out.strip() == "True"
        has_map = os.path.exists(perf_map_file(res.pid))
        has_dump = os.path.exists(jit_dump_file(res.pid))
        backend = {(False, False): None, (True, False): "perf",
                   (False, True): "perf_jit", (True, True): "both"}[
                       has_map, has_dump]
        return active, backend

    def assertOn(self, backend, *options, env=None):
        self.assertEqual(self.state(*options, env=env), (True, backend))

    def assertOff(self, *options, env=None):
        self.assertEqual(self.state(*options, env=env), (False, None))

    def assertStartupError(self, text, *options, env=None):
        res = self.run_python(*options, "-c", "pass", env=env, rc=1)
        self.assertIn(text, res.err)
        self.assertIn("invalid", res.err.lower())
        self.assertFalse(os.path.exists(perf_map_file(res.pid)))
        self.assertFalse(os.path.exists(jit_dump_file(res.pid)))
        return res

    def test_default_off(self):
        self.assertOff()

    def test_xoption(self):
        self.assertOn("perf", "-X", "perf")
        self.assertOn("perf", "-X", "perf=1")
        self.assertOn("perf", "-X", "perf=2")
        self.assertOff("-X", "perf=0")

    def test_xoption_perf_jit(self):
        self.assertOn("perf_jit", "-X", "perf_jit")
        self.assertOn("perf_jit", "-X", "perf_jit=1")
        self.assertOff("-X", "perf_jit=0")

    def test_xoption_invalid(self):
        for option in ("perf", "perf_jit"):
            for value in ("foo", "-1", "1.5", "99999999999999999999"):
                arg = f"{option}={value}"
                with self.subTest(arg=arg):
                    self.assertStartupError(f"-X {arg}", "-X", arg)

    def test_env_var(self):
        self.assertOn("perf", env={"PYTHONPERFSUPPORT": "1"})
        self.assertOn("perf", env={"PYTHONPERFSUPPORT": "7"})
        self.assertOff(env={"PYTHONPERFSUPPORT": "0"})
        self.assertOff(env={"PYTHONPERFSUPPORT": ""})

    def test_env_var_perf_jit(self):
        self.assertOn("perf_jit", env={"PYTHON_PERF_JIT_SUPPORT": "1"})
        self.assertOff(env={"PYTHON_PERF_JIT_SUPPORT": "0"})
        self.assertOff(env={"PYTHON_PERF_JIT_SUPPORT": ""})

    def test_env_var_invalid(self):
        for name in PERF_ENV_VARS:
            for value in ("yes", "-1", "99999999999999999999", "1x"):
                with self.subTest(name=name, value=value):
                    res = self.assertStartupError(name, env={name: value})
                    self.assertIn(value, res.err)

    def test_env_var_invalid_long_value_shown_cut(self):
        # The message shows printable ASCII only and marks a cut value.
        value = "a" * 34 + "\u00e9" * 10
        res = self.assertStartupError("PYTHONPERFSUPPORT",
                                      env={"PYTHONPERFSUPPORT": value})
        self.assertIn("PYTHONPERFSUPPORT=" + "a" * 34 + "??...: invalid",
                      res.err)

    def test_env_ignored_with_E_and_I(self):
        for flag in ("-E", "-I"):
            for name in PERF_ENV_VARS:
                for value in ("1", "yes"):
                    with self.subTest(flag=flag, name=name, value=value):
                        self.assertOff(flag, env={name: value})

    def test_xoption_beats_env(self):
        env = {"PYTHONPERFSUPPORT": "1"}
        self.assertOff("-X", "perf=0", env=env)
        self.assertOff("-X", "perf_jit=0", env=env)
        self.assertOn("perf", "-X", "perf",
                      env={"PYTHON_PERF_JIT_SUPPORT": "1"})
        self.assertOn("perf_jit", "-X", "perf_jit=1",
                      env={"PYTHONPERFSUPPORT": "1"})
        # Any -X perf option makes the variables ignored, invalid or not.
        self.assertOff("-X", "perf=0", env={"PYTHONPERFSUPPORT": "yes"})

    def test_perf_jit_wins_within_surface(self):
        self.assertOn("perf_jit", "-X", "perf", "-X", "perf_jit")
        self.assertOn("perf_jit", "-X", "perf_jit", "-X", "perf")
        self.assertOn("perf", "-X", "perf", "-X", "perf_jit=0")
        self.assertOn("perf_jit", env={"PYTHONPERFSUPPORT": "1",
                                       "PYTHON_PERF_JIT_SUPPORT": "1"})
        self.assertOn("perf", env={"PYTHONPERFSUPPORT": "1",
                                   "PYTHON_PERF_JIT_SUPPORT": "0"})

    def test_sys_beats_xoption(self):
        res = self.run_python("-X", "perf", "-c", textwrap.dedent("""
            import sys
            print(sys.is_stack_trampoline_active())
            sys.deactivate_stack_trampoline()
            print(sys.is_stack_trampoline_active())
            """))
        self.assertEqual(res.out.split(), ["True", "False"])
        res = self.run_python("-X", "perf_jit", "-c", textwrap.dedent("""
            import sys
            def after_switch():
                return 1
            sys.activate_stack_trampoline("perf")
            after_switch()
            """))
        self.assertIn("py::after_switch:<string>",
                      self.perf_map_names(res.pid))

    def test_help_xoptions(self):
        res = self.run_python("--help-xoptions")
        self.assertRegex(res.out, r"-X perf\b(?!_)")
        self.assertRegex(res.out, r"-X perf_jit\b")

    def test_help_env(self):
        res = self.run_python("--help-env")
        self.assertIn("PYTHONPERFSUPPORT", res.out)
        self.assertIn("PYTHON_PERF_JIT_SUPPORT", res.out)


# ---------------------------------------------------------------------------
# 3. The perf map file
# ---------------------------------------------------------------------------

class TestPerfMap(PerfTestCase):

    def test_map_written_under_xoption(self):
        script, res = self.run_script("""
            def foo():
                return 1
            def bar():
                return foo() + 1
            class Klass:
                def method(self):
                    return bar()
            def outer():
                def inner():
                    return Klass().method()
                return inner()
            print(f"result={outer()}")
            """, "-X", "perf")
        self.assertEqual(self.values(res.out)["result"], "2")
        names = self.perf_map_names(res.pid)
        for qualname in ("foo", "bar", "Klass.method", "outer",
                         "outer.<locals>.inner", "<module>"):
            with self.subTest(qualname=qualname):
                self.assertIn(f"py::{qualname}:{script}", names)

    def test_addresses_distinct(self):
        _, res = self.run_script("""
            def f1(): pass
            def f2(): pass
            def f3(): pass
            f1(); f2(); f3()
            """, "-X", "perf")
        lines = self.read_perf_map(res.pid)
        starts = [int(line.split()[0], 16) for line in lines]
        sizes = [int(line.split()[1], 16) for line in lines]
        self.assertEqual(len(set(starts)), len(starts))
        self.assertTrue(all(size > 0 for size in sizes))
        # No two trampolines overlap.
        spans = sorted(zip(starts, sizes))
        for (start, size), (next_start, _) in zip(spans, spans[1:]):
            self.assertLessEqual(start + size, next_start)

    def test_only_calls_while_active(self):
        script, res = self.run_script("""
            import sys
            def f_before(): return 1
            def f_during(): return 2
            def f_after(): return 3
            f_before()
            sys.activate_stack_trampoline("perf")
            f_during()
            sys.deactivate_stack_trampoline()
            f_after()
            """)
        # The module frame was already running: it is not retro-fitted.
        self.assertNamed(self.perf_map_names(res.pid), script,
                         present=["f_during"],
                         absent=["f_before", "f_after", "<module>"])

    def test_one_line_per_function(self):
        script, res = self.run_script("""
            def foo(i):
                return i
            for i in range(1000):
                foo(i)
            """, "-X", "perf")
        names = self.perf_map_names(res.pid)
        self.assertEqual(names.count(f"py::foo:{script}"), 1)
        self.assertEqual(len(names), len(set(names)), "duplicate entries")

    def test_one_line_per_identity(self):
        # 10,000 function code objects (1,000 compilations of the same 10
        # functions) share 10 identities (qualname, filename, firstlineno).
        _, res = self.run_script("""
            src = "".join(f"def gen_{i}():\\n    return {i}\\n"
                          for i in range(10))
            total = 0
            for _ in range(1000):
                ns = {}
                exec(compile(src, "generated.py", "exec"), ns)
                for i in range(10):
                    total += ns[f"gen_{i}"]()
            print(f"total={total}")
            """, "-X", "perf")
        self.assertEqual(self.values(res.out)["total"], str(45 * 1000))
        names = self.perf_map_names(res.pid)
        generated = sorted(n for n in names if n.endswith(":generated.py"))
        self.assertEqual(generated, sorted(
            [f"py::gen_{i}:generated.py" for i in range(10)]
            + ["py::<module>:generated.py"]))

    def test_same_name_different_lines(self):
        # Same qualname and filename, different first line: two identities.
        _, res = self.run_script("""
            ns1, ns2 = {}, {}
            exec(compile("def twin():\\n    return 1\\n", "twins.py", "exec"),
                 ns1)
            exec(compile("\\n\\ndef twin():\\n    return 2\\n", "twins.py",
                         "exec"), ns2)
            print(f"r={ns1['twin']() + ns2['twin']()}")
            """, "-X", "perf")
        self.assertEqual(self.values(res.out)["r"], "3")
        lines = self.read_perf_map(res.pid)
        twins = [l for l in lines if l.endswith(" py::twin:twins.py")]
        self.assertEqual(len(twins), 2, lines)
        self.assertNotEqual(twins[0].split()[0], twins[1].split()[0])

    def test_hostile_names(self):
        _, res = self.run_script(r"""
            import sys
            def make(qualname):
                def f():
                    return 1
                f.__code__ = f.__code__.replace(co_name="hostile",
                                                co_qualname=qualname)
                return f
            make("evil\n0 0 py::forged_nl:x.py")()
            make("evil\r1 1 py::forged_cr:x.py")()
            make("evil\x002 2 py::forged_nul:x.py")()
            make("tab\there\x1bescape")()
            make("nel\x85csi\x9bls\u2028ps\u2029end")()
            ns = {}
            exec(compile("def in_bad_file():\n    return 1\n",
                         "a\nb.py", "exec"), ns)
            ns["in_bad_file"]()
            ns = {}
            exec(compile("def in_surrogate_file():\n    return 1\n",
                         "s\udcff.py", "exec"), ns)
            ns["in_surrogate_file"]()
            make("caf\u00e9")()
            make("lone\udc80surrogate")()
            """, "-X", "perf")
        lines = self.read_perf_map(res.pid)   # checks every line's format
        names = self.map_names(lines)
        for line in lines:
            self.assertNotRegex(line, r"^\d+ \d+ py::forged")
        script = os.path.join(self.tmpdir(), "script.py")
        expected = [
            f"py::evil?0 0 py::forged_nl:x.py:{script}",
            f"py::evil?1 1 py::forged_cr:x.py:{script}",
            f"py::evil?2 2 py::forged_nul:x.py:{script}",
            f"py::tab?here?escape:{script}",
            f"py::nel?csi?ls?ps?end:{script}",
            "py::in_bad_file:a?b.py",
            "py::in_surrogate_file:s\\udcff.py",
            f"py::caf\u00e9:{script}",
            f"py::lone\\udc80surrogate:{script}",
        ]
        for name in expected:
            with self.subTest(name=name):
                self.assertIn(name, names)

    def test_long_name_truncated(self):
        _, res = self.run_script("""
            def f():
                return 1
            f.__code__ = f.__code__.replace(co_qualname="x" * 100_000)
            f()
            def after_long():
                return 2
            after_long()
            """, "-X", "perf")
        lines = self.read_perf_map(res.pid, check_format=False)
        long_lines = [l for l in lines if " py::xxxx" in l]
        self.assertEqual(len(long_lines), 1)
        line = long_lines[0]
        self.assertLess(len(line.encode()), 5000)
        self.assertRegex(line, r"^[0-9a-f]+ [0-9a-f]+ py::x+")
        self.assertIn("...", line)
        self.assertLessEqual(len(line.split(" ", 2)[2].encode()), 4096)
        # All the other lines are intact.
        self.assertWellFormedMap([l for l in lines if l is not line])
        script = os.path.join(self.tmpdir(), "script.py")
        self.assertIn(f"py::after_long:{script}", self.map_names(lines))

    def test_leftover_map_of_the_same_pid(self):
        # A map of our own user last written before the process started
        # was left by an earlier process with the same pid: its lines would
        # name our addresses, so it is emptied and made 0600.  One written
        # since (another code generator of this process) is appended to.
        source = """
            import os, sys, time
            path = f"/tmp/perf-{os.getpid()}.map"
            with open(path, "w") as f:
                f.write("1000 10 py::earlier:x.py\\n")
            os.chmod(path, 0o644)
            if sys.argv[1] == "leftover":
                then = time.time() - 3600
                os.utime(path, (then, then))
            def mine():
                return 1
            sys.activate_stack_trampoline("perf")
            mine()
            sys.deactivate_stack_trampoline()
            """
        for case, kept in (("leftover", False), ("recent", True)):
            with self.subTest(case=case):
                script, res = self.run_script(source, args=[case])
                path = perf_map_file(res.pid)
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                self.assertEqual(mode, 0o644 if kept else 0o600)
                with open(path) as f:
                    lines = f.read().splitlines()
                self.assertEqual("1000 10 py::earlier:x.py" in lines, kept)
                self.assertIn(f"py::mine:{script}", self.map_names(lines))

    def assertRefusalWarning(self, err, cause):
        self.assertIn("RuntimeWarning: perf trampoline (perf backend) not "
                      "activated: /tmp/perf-", err)
        self.assertIn(cause, err)
        self.assertIn("refusing", err)

    def test_symlink_refused(self):
        target = os.path.join(self.tmpdir(), "target.txt")
        with open(target, "w") as f:
            f.write("untouched\n")
        _, res = self.run_script("""
            import os, sys
            target = sys.argv[1]
            os.symlink(target, f"/tmp/perf-{os.getpid()}.map")
            def f(n):
                return n + 1
            # Refused with a warning; the program goes on untrampolined.
            sys.activate_stack_trampoline("perf")
            print(f"active={sys.is_stack_trampoline_active()}")
            total = sum(f(i) for i in range(100))
            sys.deactivate_stack_trampoline()
            print(f"total={total}")
            """, args=[target])
        self.assertEqual(self.values(res.out)["total"], str(5050))
        self.assertEqual(self.values(res.out)["active"], "False")
        self.assertRefusalWarning(res.err, "symbolic link")
        with open(target) as f:
            self.assertEqual(f.read(), "untouched\n")
        path = perf_map_file(res.pid)
        if os.path.lexists(path) and not os.path.islink(path):
            # Replaced by a fresh file of our own: acceptable, but then it
            # must be a proper map.
            self.read_perf_map(res.pid)

    @unittest.skipUnless(hasattr(os, "geteuid") and os.geteuid() == 0,
                         "needs root to create a file owned by another user")
    def test_foreign_owned_file_refused(self):
        _, res = self.run_script("""
            import os, sys
            path = f"/tmp/perf-{os.getpid()}.map"
            with open(path, "w") as f:
                f.write("foreign\\n")
            os.chown(path, 65534, 65534)
            def f(n):
                return n * 2
            # Refused with a warning; the program goes on untrampolined.
            sys.activate_stack_trampoline("perf")
            print(f"active={sys.is_stack_trampoline_active()}")
            total = sum(f(i) for i in range(100))
            sys.deactivate_stack_trampoline()
            print(f"total={total}")
            """)
        self.assertEqual(self.values(res.out)["total"], str(9900))
        self.assertEqual(self.values(res.out)["active"], "False")
        self.assertRefusalWarning(res.err, "owned by")
        with open(perf_map_file(res.pid)) as f:
            self.assertEqual(f.read(), "foreign\n")

    def test_flushed_while_process_runs(self):
        # Map data must reach the file while the process is still alive
        # (perf reads the map at report time, possibly before exit): it is
        # flushed once the GIL is released with data pending >= 50 ms.
        script = self.make_script("""
            import sys, time
            def visible_before_exit():
                return 1
            visible_before_exit()
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                pass
            time.sleep(0.1)
            print("ready", flush=True)
            sys.stdin.readline()
            """)
        proc = subprocess.Popen(
            [sys.executable, "-X", "perf", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=child_env(), preexec_fn=remove_own_stale_files)
        self.track_pid(proc.pid)
        with proc:
            try:
                self.assertEqual(proc.stdout.readline(), b"ready\n")
                with open(perf_map_file(proc.pid), encoding="utf-8") as f:
                    content = f.read()
                self.assertIn(f" py::visible_before_exit:{script}\n", content)
            finally:
                proc.stdin.write(b"\n")
                proc.stdin.close()
                proc.wait(timeout=support.SHORT_TIMEOUT)
        self.assertEqual(proc.returncode, 0)

    def test_flushed_while_process_never_blocks(self):
        # A process that never releases the GIL (pure computation) still
        # gets a current map and a current jitdump: each writer's own
        # thread flushes its buffer 50 ms after data was added.  The child
        # spins until it is killed, so only a flush while it runs can put
        # the function there (a server stopped with SIGTERM never exits
        # cleanly).
        script = self.make_script("""
            import os, time
            def computed_while_spinning():
                return 1
            computed_while_spinning()
            os.write(1, b"ready\\n")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pass
            """)
        want = f"py::computed_while_spinning:{script}"
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                proc = subprocess.Popen(
                    [sys.executable, "-X", backend, script],
                    stdout=subprocess.PIPE, env=child_env(),
                    preexec_fn=remove_own_stale_files)
                self.track_pid(proc.pid)
                with proc:
                    try:
                        self.assertEqual(proc.stdout.readline(), b"ready\n")
                        names = []
                        deadline = time.monotonic() + support.SHORT_TIMEOUT
                        while (want not in names
                               and time.monotonic() < deadline):
                            time.sleep(0.05)
                            names = self.names_so_far(backend, proc.pid)
                        self.assertIn(want, names)
                        # Still running: the flush did not come from its
                        # exit.
                        self.assertIsNone(proc.poll())
                    finally:
                        proc.kill()
                        proc.wait(timeout=support.SHORT_TIMEOUT)
                if backend == "perf_jit":
                    # Killed: no CODE_CLOSE, but whole records only.
                    dump = self.read_jitdump(proc.pid)
                    self.assertIn(want, self.jit_names(dump))
                    self.assertNotEqual(dump.records[-1].id, JIT_CODE_CLOSE)

    def names_so_far(self, backend, pid):
        """The names in a running process's map or jitdump (which may be
        in the middle of a write)."""
        path = perf_map_file(pid) if backend == "perf" else jit_dump_file(pid)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        if backend == "perf":
            # Whole lines only: a line being written has no newline yet.
            return self.map_names(
                data.decode("utf-8", "replace").split("\n")[:-1])
        try:
            return self.jit_names(parse_jitdump(data))
        except ValueError:
            return []

    def test_flushed_at_os_exit(self):
        script, res = self.run_script("""
            import os
            def before_os_exit():
                return 1
            before_os_exit()
            os._exit(0)
            """, "-X", "perf")
        self.assertIn(f"py::before_os_exit:{script}",
                      self.perf_map_names(res.pid))

    def test_flushed_at_exec(self):
        # exec() ends this image as _exit() does: nothing buffered may be
        # lost (samples taken before the exec belong to this pid's file).
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                script, res = self.run_script("""
                    import os
                    def before_exec():
                        return 1
                    before_exec()
                    os.execv("/bin/true", ["true"])
                    """, "-X", backend)
                if backend == "perf":
                    names = self.perf_map_names(res.pid)
                else:
                    names = self.jit_names(self.read_jitdump(res.pid))
                self.assertIn(f"py::before_exec:{script}", names)

    def test_not_described_twice_after_a_failed_write(self):
        # A write fails part of the way (RLIMIT_FSIZE, as a full disk
        # would): the writer cuts the file back to its last complete
        # record and the backend is disabled.  Activated again, it
        # describes only what did not reach the file: one map line and
        # one CODE_LOAD per function (a second CODE_LOAD makes perf inject
        # write a second jitted-*.so).
        source = """
            import os, resource, signal, sys
            backend = sys.argv[1]
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            def make(prefix, n):
                funcs = []
                for i in range(n):
                    ns = {}
                    exec(f"def {prefix}{i}(): return {i}", ns)
                    funcs.append(ns[f"{prefix}{i}"])
                return funcs
            first, second = make("first", 50), make("second", 400)
            sys.activate_stack_trampoline(backend)
            for f in first:
                f()
            sys.deactivate_stack_trampoline()      # written out
            path = (f"/tmp/perf-{os.getpid()}.map" if backend == "perf"
                    else f"/tmp/jit-{os.getpid()}.dump")
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE,
                               (os.path.getsize(path) + 4000, hard))
            sys.activate_stack_trampoline(backend)
            for f in second:
                f()
            sys.deactivate_stack_trampoline()      # fails part of the way
            print(f"failed={not sys.is_stack_trampoline_active()}")
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            sys.activate_stack_trampoline(backend)
            for f in first + second:
                f()
            print(f"active={sys.is_stack_trampoline_active()}")
            """
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                _, res = self.run_script(source, args=[backend])
                self.assertIn("RuntimeWarning", res.err)
                self.assertEqual(self.values(res.out)["active"], "True")
                if backend == "perf":
                    lines = self.read_perf_map(res.pid)
                    names = self.map_names(lines)
                    addrs = [line.split(" ", 1)[0] for line in lines]
                else:
                    loads = [r for r in self.read_jitdump(res.pid).records
                             if r.id == JIT_CODE_LOAD]
                    names = [r.fields["name"] for r in loads]
                    addrs = [r.fields["code_addr"] for r in loads]
                    indexes = [r.fields["code_index"] for r in loads]
                    self.assertEqual(len(indexes), len(set(indexes)))
                self.assertEqual(len(addrs), len(set(addrs)),
                                 "a function was described twice")
                for prefix, n in (("first", 50), ("second", 400)):
                    self.assertEqual(
                        sum(name.startswith(f"py::{prefix}")
                            for name in names), n)

    def test_failed_write_of_the_flusher_thread_reported(self):
        # The writer's own thread fails to write (RLIMIT_FSIZE, as a full
        # disk would) while the program only calls functions that are
        # described already: the next thread to release the GIL notices,
        # and the next trampolined call warns once and turns support off,
        # as after a failure of any other flush.  (The map writer's check
        # dropped the error when it flushed in the same call; the jitdump
        # writer's first thread left the check no reason to run.)
        source = """
            import os, resource, sys, time, warnings
            backend = sys.argv[1]
            def first():
                return 1
            def second():
                return 2
            sys.activate_stack_trampoline(backend)
            first()
            time.sleep(0.2)                 # the thread writes first()
            path = (f"/tmp/perf-{os.getpid()}.map" if backend == "perf"
                    else f"/tmp/jit-{os.getpid()}.dump")
            size = os.path.getsize(path)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                second()                    # buffered
                time.sleep(0.2)             # the thread's write fails
                for _ in range(5):
                    first()
                    time.sleep(0.01)
            print(f"warnings={[str(w.message) for w in caught]}")
            print(f"active={sys.is_stack_trampoline_active()}")
            print(f"grew={os.path.getsize(path) != size}")
            """
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                _, res = self.run_script(source, args=[backend])
                values = self.values(res.out)
                warnings = eval(values["warnings"])
                self.assertEqual(len(warnings), 1, warnings)
                self.assertIn("disabled", warnings[0])
                self.assertIn("File too large", warnings[0])
                self.assertEqual(values["active"], "False")
                self.assertEqual(values["grew"], "False")

    def test_flushed_at_deactivation(self):
        script = self.make_script("""
            import sys
            def before_deactivation():
                return 1
            sys.activate_stack_trampoline("perf")
            before_deactivation()
            sys.deactivate_stack_trampoline()
            print("ready", flush=True)
            sys.stdin.readline()
            """)
        proc = subprocess.Popen(
            [sys.executable, script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=child_env(), preexec_fn=remove_own_stale_files)
        self.track_pid(proc.pid)
        with proc:
            try:
                self.assertEqual(proc.stdout.readline(), b"ready\n")
                lines = self.read_perf_map(proc.pid)
                self.assertIn(f"py::before_deactivation:{script}",
                              self.map_names(lines))
            finally:
                proc.stdin.write(b"\n")
                proc.stdin.close()
                proc.wait(timeout=support.SHORT_TIMEOUT)
        self.assertEqual(proc.returncode, 0)

    def test_threads(self):
        script, res = self.run_script("""
            import threading
            def thread_func(k):
                def nested(i):
                    return i * k
                return sum(nested(i) for i in range(1000))
            results = [None] * 4
            def target(k):
                results[k] = thread_func(k)
            threads = [threading.Thread(target=target, args=(k,))
                       for k in range(4)]
            for t in threads: t.start()
            for t in threads: t.join()
            print(f"results={results}")
            """, "-X", "perf")
        self.assertEqual(self.values(res.out)["results"],
                         str([k * 499500 for k in range(4)]))
        names = self.perf_map_names(res.pid)
        self.assertEqual(names.count(f"py::thread_func:{script}"), 1)
        self.assertEqual(
            names.count(f"py::thread_func.<locals>.nested:{script}"), 1)
        self.assertEqual(len(names), len(set(names)))


# ---------------------------------------------------------------------------
# 4. jitdump (light format checks; perf itself is exercised further below)
# ---------------------------------------------------------------------------

class TestJitDump(PerfTestCase):

    def test_jitdump_contents(self):
        script, res = self.run_script("""
            def jit_foo(): return 1
            def jit_bar(): return jit_foo()
            for _ in range(100):
                jit_bar()
            """, "-X", "perf_jit")
        dump = self.read_jitdump(res.pid)
        self.assertFalse(os.path.exists(perf_map_file(res.pid)))
        loads = [r for r in dump.records if r.id == JIT_CODE_LOAD]
        names = [r.fields["name"] for r in loads]
        self.assertEqual(names.count(f"py::jit_foo:{script}"), 1)
        self.assertEqual(names.count(f"py::jit_bar:{script}"), 1)
        self.assertEqual(len(names), len(set(names)))
        indexes = [r.fields["code_index"] for r in loads]
        self.assertEqual(indexes, sorted(set(indexes)))
        codes = [r.fields["code"] for r in loads]
        self.assertEqual(len(set(codes)), len(codes),
                         "CODE_LOAD code bytes are not unique")
        for r in loads:
            self.assertEqual(r.fields["pid"], res.pid)
            self.assertEqual(r.fields["vma"], r.fields["code_addr"])
            self.assertGreater(r.fields["code_size"], 0)
        self.assertIn(JIT_CODE_CLOSE, [r.id for r in dump.records])
        self.assertIn(JIT_CODE_UNWINDING_INFO, [r.id for r in dump.records])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for r in dump.records:
            self.assertLessEqual(r.timestamp, now)

    def test_leftover_of_recycled_pid_replaced(self):
        # A dump of our own user at our path that this process did not
        # create was left by an earlier process with the same pid: it is
        # replaced, not a reason to refuse profiling for good.
        script, res = self.run_script("""
            import os, sys, time, warnings
            path = f"/tmp/jit-{os.getpid()}.dump"
            with open(path, "wb") as f:
                f.write(b"left by a dead process")
            # Last written before this process started.
            then = time.time() - 3600
            os.utime(path, (then, then))
            def after_leftover(): return 1
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                sys.activate_stack_trampoline("perf_jit")
                after_leftover()
            print(f"active={sys.is_stack_trampoline_active()}")
            """)
        self.assertEqual(self.values(res.out)["active"], "True")
        dump = self.read_jitdump(res.pid)
        names = [r.fields["name"] for r in dump.records
                 if r.id == JIT_CODE_LOAD]
        self.assertIn(f"py::after_leftover:{script}", names)


# ---------------------------------------------------------------------------
# 5. fork
# ---------------------------------------------------------------------------

FORK_SCRIPT = """
import os, sys
def f_parent_only(): return 1
def f_both(): return 2
def f_child_only(): return 3
def f_child_exit(): return 4

def spawn(child_body):
    pid = os.fork()
    if pid == 0:
        child_body()
    print(f"pid={pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"status={status}", flush=True)

def child_os_exit():
    f_both()
    f_child_only()
    os._exit(0)

def child_sys_exit():
    f_child_exit()
    sys.exit(0)

sys.activate_stack_trampoline(BACKEND)
f_parent_only()
f_both()
spawn(child_os_exit)
spawn(child_sys_exit)
f_both()
"""


@support.requires_fork()
class TestFork(PerfTestCase):

    def run_fork_script(self, backend, persist=False):
        source = FORK_SCRIPT.replace("BACKEND", repr(backend))
        if persist:
            source = source.replace(
                "sys.activate_stack_trampoline(",
                "import _testinternalcapi\n"
                "print(f'persist={_testinternalcapi."
                "perf_trampoline_set_persist_after_fork(1)}', flush=True)\n"
                "sys.activate_stack_trampoline(")
        script, res = self.run_script(source)
        pids = self.child_pids(res.out)
        self.assertEqual(len(pids), 2, res.out)
        self.assertEqual(res.out.count("status=0"), 2, res.out)
        return script, res, pids

    def run_persist_fork(self, fork_code):
        """Run a child that describes before_fork() to its map with
        persist-after-fork on, flushes the map, then runs fork_code, which
        forks and sets pid; return (script, result) once the forked
        child exited 0."""
        import_helper.import_module("_testinternalcapi")
        source = textwrap.dedent("""
            import os, sys, _testinternalcapi
            def before_fork(): return 1
            sys.activate_stack_trampoline("perf")
            _testinternalcapi.perf_trampoline_set_persist_after_fork(1)
            before_fork()
            sys.deactivate_stack_trampoline()    # flushes the map
            sys.activate_stack_trampoline("perf")
            """) + textwrap.dedent(fork_code) + textwrap.dedent("""
            print(f"pid={pid}", flush=True)
            _, status = os.waitpid(pid, 0)
            print(f"status={os.waitstatus_to_exitcode(status)}")
            """)
        script, res = self.run_script(source)
        self.assertEqual(self.values(res.out)["status"], "0")
        return script, res

    def test_fork_perf_map(self):
        script, res, (child1, child2) = self.run_fork_script("perf")
        parent = self.perf_map_names(res.pid)
        self.assertEqual(parent.count(f"py::f_parent_only:{script}"), 1)
        self.assertEqual(parent.count(f"py::f_both:{script}"), 1)
        self.assertNamed(parent, script,
                         absent=["f_child_only", "f_child_exit"])
        self.assertEqual(len(parent), len(set(parent)))
        # The os._exit() child, then the sys.exit() one.
        self.assertNamed(self.perf_map_names(child1), script,
                         present=["f_child_only", "f_both"],
                         absent=["f_parent_only"])
        self.assertNamed(self.perf_map_names(child2), script,
                         present=["f_child_exit"],
                         absent=["f_parent_only", "f_child_only"])

    def test_fork_persist_perf_map(self):
        import_helper.import_module("_testinternalcapi")
        script, res, (child1, child2) = self.run_fork_script("perf",
                                                              persist=True)
        self.assertEqual(self.values(res.out)["persist"], "0")
        parent = self.read_perf_map(res.pid)
        first = self.read_perf_map(child1)
        second = self.read_perf_map(child2)
        parent_only = [l for l in parent
                       if l.endswith(f" py::f_parent_only:{script}")]
        self.assertEqual(len(parent_only), 1)
        # The children start with a copy of the parent's entries.
        self.assertIn(parent_only[0], first)
        self.assertIn(parent_only[0], second)
        self.assertNamed(self.map_names(first), script,
                         present=["f_child_only"])
        self.assertNamed(self.map_names(second), script,
                         present=["f_child_exit"])
        self.assertNamed(self.map_names(parent), script,
                         absent=["f_child_only"])

    def test_fork_persist_copies_the_map_as_at_fork(self):
        # The child copies a large parent map while the parent goes on
        # adding lines, for slots the child gives to functions of its own:
        # it must copy the map as it was at fork() (it had the parent's
        # later lines too, naming the child's slots after the parent's
        # functions: 384 addresses with two names, in 5 runs out of 5).
        import_helper.import_module("_testinternalcapi")
        script, res = self.run_script("""
            import os, sys, _testinternalcapi
            def make(prefix, n):
                pad = "p" * 3000
                src = "\\n".join(f"def {prefix}{i}_{pad}(): return {i}"
                                   for i in range(n))
                ns = {}
                exec(compile(src, prefix + ".py", "exec"), ns)
                return [v for k, v in ns.items() if k.startswith(prefix)]
            sys.activate_stack_trampoline("perf")
            _testinternalcapi.perf_trampoline_set_persist_after_fork(1)
            for f in make("before", 2000):
                f()
            after_in_parent = make("parent", 400)
            after_in_child = make("child", 400)
            sys.activate_stack_trampoline("perf_jit")   # flushes the map
            sys.activate_stack_trampoline("perf")
            pid = os.fork()
            if pid == 0:
                for f in after_in_child:
                    f()
                os._exit(0)
            print(f"pid={pid}", flush=True)
            for f in after_in_parent:
                f()
            _, status = os.waitpid(pid, 0)
            print(f"status={os.waitstatus_to_exitcode(status)}")
            """)
        self.assertEqual(self.values(res.out)["status"], "0")
        child = self.read_perf_map(self.child_pids(res.out)[0])
        names = self.map_names(child)
        self.assertEqual(sum(n.startswith("py::before") for n in names), 2000)
        self.assertEqual(sum(n.startswith("py::child") for n in names), 400)
        self.assertFalse([n for n in names if n.startswith("py::parent")])
        addresses = [line.split(" ", 1)[0] for line in child]
        self.assertEqual(len(addresses), len(set(addresses)))

    def test_fork_persist_without_before_fork_hook(self):
        # An embedder that forks by itself and calls only
        # PyOS_AfterFork_Child() (no PyOS_BeforeFork()): the child's map
        # is a copy of the parent's whole file (it was left empty).
        import_helper.import_module("ctypes")
        script, res = self.run_persist_fork("""
            import ctypes
            pid = ctypes.PyDLL(None).fork()      # the GIL stays held
            if pid == 0:
                ctypes.pythonapi.PyOS_AfterFork_Child()
                os._exit(0)
            """)
        self.assertNamed(self.perf_map_names(self.child_pids(res.out)[0]),
                         script, present=["before_fork"])

    def test_fork_persist_without_a_parent_map(self):
        # The parent's map is gone at fork() (a /tmp cleaner): the child's
        # map cannot be a copy, so the child describes what it runs, as
        # without persist-after-fork (its map lacked the functions
        # trampolined before the fork, which the child called).
        script, res = self.run_persist_fork("""
            os.unlink(f"/tmp/perf-{os.getpid()}.map")
            pid = os.fork()
            if pid == 0:
                def child_only(): return 2
                before_fork()
                child_only()
                os._exit(0)
            """)
        self.assertNamed(self.perf_map_names(self.child_pids(res.out)[0]),
                         script, present=["before_fork", "child_only"])

    def test_fork_persist_after_the_map_was_closed(self):
        # perf_jit is current and the parent closed its map writer
        # (PyUnstable_PerfMapState_Fini()): nothing is copied, so when the
        # child goes back to the map backend it describes what it runs
        # (its map lacked the functions the parent had put in its map).
        script, res = self.run_script("""
            import os, sys, _testinternalcapi as t
            def described_in_parent_map(): return 1
            sys.activate_stack_trampoline("perf")
            described_in_parent_map()
            sys.activate_stack_trampoline("perf_jit")
            t.perf_map_state_fini()
            t.perf_trampoline_set_persist_after_fork(1)
            pid = os.fork()
            if pid == 0:
                sys.activate_stack_trampoline("perf")
                described_in_parent_map()
                sys.deactivate_stack_trampoline()
                os._exit(0)
            print(f"pid={pid}", flush=True)
            os.waitpid(pid, 0)
            """)
        self.assertNamed(self.perf_map_names(self.child_pids(res.out)[0]),
                         script, present=["described_in_parent_map"])

    def test_fork_perf_jit(self):
        script, res, (child1, child2) = self.run_fork_script("perf_jit")
        self.assertNamed(self.jit_names(self.read_jitdump(res.pid)), script,
                         present=["f_parent_only"], absent=["f_child_only"])
        self.assertNamed(self.jit_names(self.read_jitdump(child1)), script,
                         present=["f_child_only"], absent=["f_parent_only"])
        self.assertNamed(self.jit_names(self.read_jitdump(child2)), script,
                         present=["f_child_exit"], absent=["f_parent_only"])

    def test_fork_perf_jit_without_fork_hooks(self):
        # C code forks without telling Python (no PyOS_BeforeFork() or
        # PyOS_AfterFork_Child()), while the parent has records buffered
        # and its flusher thread may hold the writer's lock: the child
        # must not wait for that lock, never writes the parent's dump, and
        # writes its own (the fork child's first callback makes the lock
        # fresh).  Repeated, to meet the thread at different moments.
        import_helper.import_module("ctypes")
        script, res = self.run_script("""
            import ctypes, os, sys, time
            sys.activate_stack_trampoline("perf_jit")
            fork = ctypes.PyDLL(None).fork      # the GIL stays held
            children = []
            for i in range(20):
                ns = {}
                exec(f"def parent_{i}(): return {i}", ns)
                ns[f"parent_{i}"]()             # buffered in the parent
                time.sleep(0.003 * (i % 20))    # the thread may flush
                pid = fork()
                if pid == 0:
                    exec(f"def child_{i}(): return {i}", ns)
                    ns[f"child_{i}"]()
                    os._exit(0)
                print(f"pid={pid}", flush=True)
                _, status = os.waitpid(pid, 0)
                children.append(os.waitstatus_to_exitcode(status))
            print(f"statuses={children}")
            """)
        self.assertEqual(self.values(res.out)["statuses"], str([0] * 20))
        parent = self.jit_names(self.read_jitdump(res.pid))
        self.assertEqual(
            sorted(n for n in parent if n.startswith("py::parent_")),
            sorted(f"py::parent_{i}:<string>" for i in range(20)))
        self.assertFalse([n for n in parent if n.startswith("py::child_")])
        for i, pid in enumerate(self.child_pids(res.out)):
            names = self.jit_names(self.read_jitdump(pid))
            self.assertIn(f"py::child_{i}:<string>", names)
            self.assertFalse([n for n in names if n.startswith("py::parent_")])

    def test_fork_persist_perf_jit(self):
        import_helper.import_module("_testinternalcapi")
        script, res, (child1, child2) = self.run_fork_script("perf_jit",
                                                              persist=True)
        self.read_jitdump(res.pid)
        self.assertIn(f"py::f_child_only:{script}",
                      self.jit_names(self.read_jitdump(child1)))
        self.assertIn(f"py::f_child_exit:{script}",
                      self.jit_names(self.read_jitdump(child2)))

    def test_fork_under_xoption(self):
        # Started with -X perf: the module frame and spawn() run through
        # trampolines at fork time and the children return through them.
        script2, res2 = self.run_script(
            FORK_SCRIPT.replace("sys.activate_stack_trampoline(BACKEND)", ""),
            "-X", "perf", name="script2")
        pids = self.child_pids(res2.out)
        self.assertEqual(res2.out.count("status=0"), 2, res2.out)
        self.assertNamed(self.perf_map_names(pids[0]), script2,
                         present=["f_child_only"])
        self.assertNamed(self.perf_map_names(res2.pid), script2,
                         absent=["f_child_only", "child_os_exit"])


# ---------------------------------------------------------------------------
# 6. Toggling while trampolined frames are running
# ---------------------------------------------------------------------------

class TestToggleWhileRunning(PerfTestCase):

    def test_deactivate_inside_trampolined_frames(self):
        _, res = self.run_script("""
            import sys
            def leaf(n):
                sys.deactivate_stack_trampoline()
                total = 0
                for i in range(n):
                    total += i
                return total
            def level2(n):
                return leaf(n) + 1
            def level3(n):
                return level2(n) * 2
            sys.activate_stack_trampoline("perf")
            print(f"r1={level3(100)}")
            print(f"active1={sys.is_stack_trampoline_active()}")

            def helper(n):
                return n * 3
            def activator():
                sys.activate_stack_trampoline("perf")
                return helper(5)
            print(f"r2={activator()}")
            print(f"active2={sys.is_stack_trampoline_active()}")

            def rec(n):
                if n == 0:
                    return 0
                if n % 2:
                    sys.activate_stack_trampoline("perf")
                else:
                    sys.deactivate_stack_trampoline()
                return rec(n - 1) + 1
            print(f"r3={rec(200)}")

            def raiser():
                sys.deactivate_stack_trampoline()
                raise ValueError("boom")
            def catcher():
                sys.activate_stack_trampoline("perf")
                try:
                    raiser()
                except ValueError as exc:
                    return str(exc)
            print(f"r4={catcher()}")

            def gen():
                for i in range(6):
                    if i % 2:
                        sys.activate_stack_trampoline("perf")
                    else:
                        sys.deactivate_stack_trampoline()
                    yield i
            print(f"r5={list(gen())}")
            sys.deactivate_stack_trampoline()
            print(f"active3={sys.is_stack_trampoline_active()}")
            """)
        self.assertEqual(self.values(res.out), {
            "r1": str((sum(range(100)) + 1) * 2), "active1": "False",
            "r2": "15", "active2": "True", "r3": "200", "r4": "boom",
            "r5": str(list(range(6))), "active3": "False"})
        self.read_perf_map(res.pid)

    def test_toggle_with_threads_running(self):
        _, res = self.run_script("""
            import sys, threading
            sys.setswitchinterval(1e-5)
            stop = False
            def work(i):
                return i + 1
            def worker(out):
                n = 0
                while not stop:
                    n = work(n)
                out.append(n)
            outs = [[] for _ in range(3)]
            threads = [threading.Thread(target=worker, args=(o,))
                       for o in outs]
            for t in threads: t.start()
            try:
                for i in range(300):
                    sys.activate_stack_trampoline("perf_jit" if i % 3 == 0
                                                  else "perf")
                    work(i)
                    sys.deactivate_stack_trampoline()
            finally:
                stop = True
                for t in threads: t.join()
            print(f"ok={all(o and o[0] > 0 for o in outs)}")
            """)
        self.assertEqual(self.values(res.out)["ok"], "True")
        self.read_perf_map(res.pid)
        self.read_jitdump(res.pid)

    def test_daemon_threads_at_exit(self):
        # Daemon threads still running trampolined code at finalization.
        _, res = self.run_script("""
            import threading
            def spin():
                while True:
                    sum(range(100))
            for _ in range(3):
                threading.Thread(target=spin, daemon=True).start()
            def main():
                return sum(range(100000))
            print(f"r={main()}")
            """, "-X", "perf")
        self.assertEqual(self.values(res.out)["r"], str(sum(range(100000))))
        self.read_perf_map(res.pid)


# ---------------------------------------------------------------------------
# 7. The perf map C API, through _testinternalcapi
# ---------------------------------------------------------------------------

class TestCAPI(PerfTestCase):

    def setUp(self):
        import_helper.import_module("_testinternalcapi")

    def test_write_perf_map_entry(self):
        _, res = self.run_script("""
            import _testinternalcapi as t
            print(f"init={t.perf_map_state_init()}")
            w = t.write_perf_map_entry
            print(f"write={w(0x1234, 0x10, 'entry_name')}")
            print(f"write2={w(0xabcdef, 0x200, 'py::x:y')}")
            print(f"fini={t.perf_map_state_fini()}")
            """)
        self.assertEqual(self.values(res.out), {
            "init": "0", "write": "0", "write2": "0", "fini": "None"})
        lines = self.read_perf_map(res.pid, check_format=False)
        self.assertEqual(lines, ["1234 10 entry_name", "abcdef 200 py::x:y"])

    def test_write_perf_map_entry_long_name(self):
        # A name is cut to at most 4096 bytes, "..." included, at a
        # character boundary; a name of exactly 4096 bytes is kept whole.
        _, res = self.run_script("""
            import _testinternalcapi as t
            w = t.write_perf_map_entry
            print(f"long={w(0x1000, 0x10, 'a' + '\u00e9' * 5000)}")
            print(f"exact={w(0x2000, 0x10, 'b' * 4096)}")
            print(f"fini={t.perf_map_state_fini()}")
            """)
        self.assertEqual(self.values(res.out),
                         {"long": "0", "exact": "0", "fini": "None"})
        lines = self.read_perf_map(res.pid, check_format=False)
        self.assertEqual(len(lines), 2)
        long_name = lines[0].split(" ", 2)[2]
        self.assertEqual(long_name, "a" + "\u00e9" * 2046 + "...")
        self.assertLessEqual(len(long_name.encode()), 4096)
        self.assertEqual(lines[1], "2000 10 " + "b" * 4096)

    def test_write_perf_map_entry_many(self):
        # Far more than the 64 KiB buffer, from several threads: every line
        # arrives whole and exactly once.
        _, res = self.run_script("""
            import threading, _testinternalcapi as t
            assert t.perf_map_state_init() == 0
            def writer(k):
                for i in range(2000):
                    assert t.write_perf_map_entry(
                        0x100000 * (k + 1) + i, 0x20,
                        f"py::thread{k}_entry{i}:" + "p" * 60) == 0
            threads = [threading.Thread(target=writer, args=(k,))
                       for k in range(4)]
            for th in threads: th.start()
            for th in threads: th.join()
            t.perf_map_state_fini()
            """)
        lines = self.read_perf_map(res.pid)
        self.assertEqual(len(lines), 8000)
        self.assertEqual(sorted(lines), sorted(
            f"{0x100000 * (k + 1) + i:x} 20 py::thread{k}_entry{i}:{'p' * 60}"
            for k in range(4) for i in range(2000)))

    def test_compile_code_and_lookup(self):
        script, res = self.run_script("""
            import sys, _testinternalcapi as t
            def precompiled():
                return 42
            def never_called():
                pass
            sys.activate_stack_trampoline("perf")
            compile_code = t.perf_trampoline_compile_code
            lookup = t.perf_trampoline_lookup
            print(f"compile={compile_code(precompiled.__code__)}")
            addr = lookup(precompiled.__code__)
            print(f"addr={addr!r}")
            print(f"missing={lookup(never_called.__code__)!r}")
            print(f"again={compile_code(precompiled.__code__)}")
            print(f"same={lookup(precompiled.__code__) == addr}")
            print(f"result={precompiled()}")
            sys.deactivate_stack_trampoline()
            """)
        values = self.values(res.out)
        self.assertEqual(values["compile"], "0")
        self.assertEqual(values["again"], "0")
        self.assertEqual(values["missing"], "None")
        self.assertEqual(values["same"], "True")
        self.assertEqual(values["result"], "42")
        addr = int(values["addr"])
        self.assertGreater(addr, 0)
        lines = self.read_perf_map(res.pid)
        entries = [l for l in lines
                   if l.endswith(f" py::precompiled:{script}")]
        self.assertEqual(len(entries), 1, lines)
        self.assertEqual(entries[0].split()[0], f"{addr:x}")

    def test_copy_perf_map_file(self):
        source = os.path.join(self.tmpdir(), "parent.map")
        copied = ["aaaa 10 py::copied_one:x.py", "bbbb 20 py::copied_two:y.py"]
        with open(source, "w") as f:
            f.write("".join(line + "\n" for line in copied))
        missing = os.path.join(self.tmpdir(), "missing.map")
        _, res = self.run_script(f"""
            import _testinternalcapi as t
            assert t.perf_map_state_init() == 0
            assert t.write_perf_map_entry(0x42, 0x8, "py::own:z.py") == 0
            print(f"copy={{t.copy_perf_map_file({source!r})}}")
            try:
                r = t.copy_perf_map_file({missing!r})
            except OSError:
                r = "OSError"
            print(f"copy_missing={{r}}")
            t.perf_map_state_fini()
            """)
        values = self.values(res.out)
        self.assertEqual(values["copy"], "0")
        self.assertNotEqual(values["copy_missing"], "0")
        lines = self.read_perf_map(res.pid)
        # Order between the buffered entry and the copy is not specified.
        self.assertEqual(sorted(lines), sorted(["42 8 py::own:z.py"] + copied))

    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork()")
    def test_set_persist_after_fork_turned_off_again(self):
        # enable=0 after enable=1: the next child's map lists only what the
        # child runs, as by default.
        script, res = self.run_script("""
            import os, sys, _testinternalcapi as t
            def in_parent(): return 1
            sys.activate_stack_trampoline("perf")
            in_parent()
            print(f"on={t.perf_trampoline_set_persist_after_fork(1)}")
            print(f"off={t.perf_trampoline_set_persist_after_fork(0)}")
            pid = os.fork()
            if pid == 0:
                def in_child(): return 2
                in_child()
                os._exit(0)
            print(f"pid={pid}", flush=True)
            os.waitpid(pid, 0)
            """)
        values = self.values(res.out)
        self.assertEqual((values["on"], values["off"]), ("0", "0"))
        [child] = self.child_pids(res.out)
        self.assertNamed(self.perf_map_names(child), script,
                         present=["in_child"], absent=["in_parent"])


# ---------------------------------------------------------------------------
# 8. Trampolined execution gives the same results
# ---------------------------------------------------------------------------

WORKLOAD = r"""
import asyncio, sys, traceback

results = {}

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
results["fib"] = fib(20)

def kw(a, b=2, *args, c, d=4, **kwargs):
    return (a, b, args, c, d, sorted(kwargs.items()))
results["kw"] = [kw(1, c=3), kw(1, 5, 6, 7, c=8, d=9, e=10),
                 kw(*[1, 2], **{"c": 3, "z": 0})]

def defaults(x, acc=[]):
    acc.append(x)
    return len(acc)
results["defaults"] = [defaults(i) for i in range(3)]

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __repr__(self):
        return f"Point({self.x}, {self.y})"
    @property
    def norm2(self):
        return self.x ** 2 + self.y ** 2
results["objects"] = [repr(Point(1, 2)), Point(3, 4).norm2,
                      sorted([Point(2, 0), Point(1, 1)], key=lambda p: p.x)
                      .__repr__()]

def e3():
    raise KeyError("deep")
def e2():
    return e3()
def e1():
    try:
        return e2()
    finally:
        results["finally_ran"] = True
try:
    e1()
except KeyError as exc:
    results["traceback"] = traceback.format_exc()
    results["tb_names"] = [fs.name for fs in traceback.extract_tb(
        exc.__traceback__)]

def chained():
    try:
        e3()
    except KeyError as exc:
        raise ValueError("wrapped") from exc
try:
    chained()
except ValueError:
    results["chained"] = traceback.format_exc()

def squares(n):
    for i in range(n):
        yield i * i
results["gen"] = list(squares(10))
results["genexpr"] = sum(x for x in squares(100) if x % 3)

def echo():
    received = []
    while True:
        try:
            value = yield len(received)
        except ValueError:
            received.append("VE")
            continue
        if value is None:
            return received
        received.append(value)
g = echo()
next(g)
g.send(1)
g.throw(ValueError)
g.send(2)
try:
    g.send(None)
except StopIteration as stop:
    results["echo"] = stop.value

def delegate():
    result = yield from squares(4)
    return result
results["yield_from"] = list(delegate())

async def a_add(x, y):
    await asyncio.sleep(0)
    return x + y
async def a_fail():
    await asyncio.sleep(0)
    raise RuntimeError("async boom")
async def a_main():
    values = await asyncio.gather(*(a_add(i, i) for i in range(5)))
    try:
        await a_fail()
    except RuntimeError as exc:
        values.append(str(exc))
    return values
results["coro"] = asyncio.run(a_main())

def who_called():
    return sys._getframe(1).f_code.co_name
def the_caller():
    return who_called()
results["caller"] = the_caller()
results["caller_lineno"] = (lambda: sys._getframe(1).f_lineno)()

depth = 0
def recurse():
    global depth
    depth += 1
    recurse()
sys.setrecursionlimit(1000)
try:
    recurse()
except RecursionError:
    results["recursion"] = ["RecursionError", depth]
depth = 0
try:
    recurse()
except RecursionError:
    results["recursion_again"] = ["RecursionError", depth]

def traced_inner(x):
    y = x + 1
    return y * 2
def traced_outer():
    total = 0
    for i in range(3):
        total += traced_inner(i) + len(str(i)) + abs(-i)
    try:
        e3()
    except KeyError:
        pass
    return list(squares(2)), total
events = []
def tracer(frame, event, arg):
    events.append([event, frame.f_code.co_name, frame.f_lineno])
    return tracer
def run_traced():
    sys.settrace(tracer)
    try:
        traced_outer()
    finally:
        sys.settrace(None)
run_traced()
results["trace"] = events
profile = []
def profiler(frame, event, arg):
    name = getattr(arg, "__name__", None) if event.startswith("c_") else None
    profile.append([event, frame.f_code.co_name, name])
def run_profiled():
    sys.setprofile(profiler)
    try:
        traced_outer()
    finally:
        sys.setprofile(None)
run_profiled()
results["profile"] = profile

for key in sorted(results):
    print(f"{key}={results[key]!r}")
"""


# Generators and coroutines resumed by for loops, yield from and await:
# with a backend active, code quickened then resumes them in the
# evaluator's own activation (FOR_ITER_GEN, SEND_GEN in Python/ceval.c).
# Every scenario runs ROUNDS times, so that its code is quickened, and
# must give what it gives without perf support; "quickened" names the
# functions that got those instructions.
GENERATORS_WORKLOAD = r"""
import asyncio, dis, gc, sys, threading, traceback

results = {}
ROUNDS = 20     # past the warm-up: the code below is quickened

def scenario(func):
    first = None
    for i in range(ROUNDS):
        try:
            value = func()
        except BaseException as exc:
            value = ("raised", type(exc).__name__, str(exc))
        if i == 0:
            first = value
    results[func.__name__] = value if value == first else ("differs", first, value)
    return func

def numbers(n):
    for i in range(n):
        yield i

def squares(seq):
    for x in seq:
        yield x * x

def returns(n):
    yield from range(n)
    return ("value", n)

@scenario
def loop_values():
    out = []
    for x in squares(numbers(6)):
        out.append(x)
    else:
        out.append("else")
    for x in returns(3):
        out.append(x)
    return out

@scenario
def loop_break_and_reuse():
    g = numbers(10)
    out = []
    for x in g:
        if x == 3:
            break
    for x in g:                 # resumed again, by another loop
        out.append(x)
    for x in g:                 # exhausted: the generic path
        out.append("never")
    return out, g.gi_frame is None, g.gi_running

def delegate(n):
    got = yield from returns(n)
    sent = yield got
    while sent is not None:
        sent = yield ("echo", sent)
    return "done"

@scenario
def yield_from_values():
    out = list(delegate(3))
    g = delegate(2)
    out.append([next(g), next(g), next(g), g.send("a"), g.send("b")])
    try:
        g.send(None)
    except StopIteration as exc:
        out.append(("stop", exc.value))
    return out

def echo():
    received = []
    while True:
        x = yield len(received)
        if x is None:
            return received
        received.append(x)

def relay():
    result = yield from echo()
    yield ("relay", result)

@scenario
def send_through_yield_from():
    g = relay()
    out = [next(g), g.send(1), g.send(2), g.send(None)]
    return out

def raises(kind):
    yield 1
    if kind == "stop":
        raise StopIteration("inner")
    raise KeyError(kind)

def format_exc(exc):
    return (type(exc).__name__, str(exc), repr(exc.__cause__),
            repr(exc.__context__),
            [(f.name, f.lineno) for f in traceback.extract_tb(exc.__traceback__)])

@scenario
def exceptions_from_generators():
    out = []
    for kind in ("stop", "key"):
        g = raises(kind)
        try:
            for x in g:
                out.append(x)
        except Exception as exc:
            out.append(format_exc(exc))
        out.append((g.gi_frame is None, g.gi_running))
    try:
        for x in squares(raises("deep")):
            out.append(x)
    except KeyError as exc:
        out.append(format_exc(exc))
    return out

def stopper():
    yield 1
    raise StopIteration("from a delegate")

def wrap_stopper():
    yield from stopper()

@scenario
def exceptions_through_yield_from():
    out = []
    try:
        out.extend(wrap_stopper())
    except RuntimeError as exc:
        out.append(format_exc(exc))
    g = wrap_stopper()
    for x in g:
        out.append(x)
        break
    try:
        g.throw(ValueError("thrown"))
    except ValueError as exc:
        out.append(format_exc(exc))
    return out

def context_gen():
    yield sys.exc_info()[0].__name__ if sys.exc_info()[0] else None
    try:
        raise ValueError("in gen")
    except ValueError:
        yield sys.exc_info()[0].__name__
    yield sys.exc_info()[0].__name__ if sys.exc_info()[0] else None
    raise TypeError("after")

@scenario
def exception_state():
    out = []
    try:
        raise OSError("outer")
    except OSError:
        try:
            for x in context_gen():
                out.append(x)
                out.append(sys.exc_info()[0].__name__)
        except TypeError as exc:
            out.append(format_exc(exc))
    out.append(sys.exc_info())
    return out

def introspect():
    me = yield
    f = sys._getframe()
    yield (me.gi_running, f.f_back.f_code.co_name, f.f_code.co_name,
           me.gi_frame is f, f.f_lineno)
    yield (me.gi_frame.f_back.f_code.co_name, me.gi_yieldfrom)

@scenario
def frames_while_running():
    g = introspect()
    next(g)
    out = [g.send(g)]
    for x in g:
        out.append(x)
    out.append((g.gi_running, g.gi_frame))
    return out

def self_iterating():
    me = yield
    for x in me:
        yield x

@scenario
def generator_already_executing():
    g = self_iterating()
    next(g)
    g.send(g)

def deep(n):
    if n:
        yield from deep(n - 1)
    else:
        yield "bottom"

def deep_for(n):
    if n:
        for x in deep_for(n - 1):
            yield x
    else:
        yield "bottom"

@scenario
def deep_nesting():
    # More levels than one reserve has records for.
    return [list(deep(100)), list(deep_for(100)), list(deep(5))]

@scenario
def recursion_limit():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        out = []
        for f in (deep, deep_for):
            try:
                out.append(list(f(400)))
            except RecursionError as exc:
                out.append(("RecursionError", str(exc)))
        out.append(list(deep(100)))
        return out
    finally:
        sys.setrecursionlimit(limit)

@scenario
def deoptimized_loop():
    def total(it):
        t = 0
        for x in it:
            t += x
        return t
    out = []
    for i in range(12):
        out.append(total(numbers(i) if i % 3 else [i, i]))
    return out

@scenario
def close_and_throw_after_inline_resumes():
    log = []
    def guarded():
        try:
            for i in range(10):
                yield i
        finally:
            log.append("finally")
    def outer():
        try:
            yield from guarded()
        except GeneratorExit:
            log.append("outer exit")
            raise
    g = outer()
    for x in g:
        if x == 2:
            break
    g.close()
    h = outer()
    for x in h:
        if x == 1:
            break
    try:
        h.throw(IndexError("into"))
    except IndexError as exc:
        log.append(format_exc(exc))
    return log, g.gi_frame, h.gi_frame

@scenario
def generator_expressions():
    return (sum(x + 1 for x in numbers(50)),
            [y for y in squares(numbers(5))],
            {k: v for k, v in zip(numbers(3), squares(numbers(3)))})

async def leaf(n):
    await asyncio.sleep(0)
    if n < 0:
        raise ValueError(n)
    return n * 2

async def middle(n):
    total = 0
    for i in range(n):
        total += await leaf(i)
    return total

async def top(n):
    try:
        await leaf(-1)
    except ValueError as exc:
        caught = format_exc(exc)
    return (await middle(n), caught)

class Ready:
    def __await__(self):
        return (yield "ready")

async def stepped():
    a = await Ready()
    b = await plain_coro(a)
    return a, b

async def plain_coro(x):
    return ("plain", x)

async def stop_in_coro():
    raise StopIteration("coro")

async def await_stop():
    await stop_in_coro()

@scenario
def coroutines():
    out = [asyncio.run(top(5))]
    c = stepped()
    out.append(c.send(None))
    try:
        c.send("sent")
    except StopIteration as exc:
        out.append(exc.value)
    try:
        asyncio.run(await_stop())
    except RuntimeError as exc:
        out.append(format_exc(exc))
    return out

@scenario
def tracing_inside_a_generator():
    events = []
    def tracer(frame, event, arg):
        if frame.f_code.co_filename == __file__:
            events.append((frame.f_code.co_name, event,
                           type(arg).__name__ if event == "exception" else None))
        return tracer
    def turns_tracing_on():
        yield 1
        sys.settrace(tracer)
        yield 2
        sys.settrace(None)
        yield 3
        # Returns to a loop that is traced from now on, with a value
        # that the loop's tracer sees in a StopIteration.
        sys.settrace(tracer)
        sys._getframe(1).f_trace = tracer
        return "ret"
    def consume():
        out = []
        for x in turns_tracing_on():
            out.append(x)
        sys.settrace(None)
        return out
    return consume(), events

def tracing_turned_off_at(where):
    # A trace function turns tracing off (as pdb's "continue" does) at the
    # line event of a yield or a return, which then run untraced in a
    # generator resumed inline.
    def tracer(frame, event, arg):
        if event == "line" and frame.f_lineno == stop_line:
            sys.settrace(None)
        return tracer
    def gen(arm):
        x = yield "first"
        if arm:
            sys._getframe().f_trace = tracer
            sys.settrace(tracer)
        if where == "yield":
            yield (
                x)
        return (
            "returned")
    stop_line = gen.__code__.co_firstlineno + (6 if where == "yield" else 8)
    def run(arm):
        out = []
        for x in gen(arm):
            out.append(x)
        g = gen(arm)
        out.append(next(g))
        try:
            out.append(g.send("sent"))
            out.append(next(g))
        except StopIteration as exc:
            out.append(("stop", exc.value))
        return out
    return [run(k == 9) for k in range(10)][-1], sys.gettrace()

@scenario
def tracing_turned_off_at_yield():
    return tracing_turned_off_at("yield")

@scenario
def tracing_turned_off_at_return():
    return tracing_turned_off_at("return")

@scenario
def threads():
    out = {}
    def work(k):
        out[k] = sum(squares(numbers(1000 + k)))
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sorted(out.items())

@scenario
def collected_while_running():
    def cyclic():
        me = yield
        box = [me]
        box.append(box)
        del box
        gc.collect()
        yield "survived"
    g = cyclic()
    next(g)
    return [g.send(g)] + list(g)

for name, value in results.items():
    print(f"{name}={value!r}")

quickened = sorted(
    f.__code__.co_name for f in list(globals().values())
    if callable(f) and hasattr(f, "__code__")
    for ins in dis.get_instructions(f, adaptive=True)
    if ins.opname in ("FOR_ITER_GEN", "SEND_GEN"))
print(f"quickened={sorted(set(quickened))}")
"""


class TestGeneratorsResumedInline(PerfTestCase):

    # Functions whose for loops or yield from / await must have been
    # quickened for inline resumption under a backend.
    QUICKENED = {"loop_values", "squares", "delegate", "relay",
                 "wrap_stopper", "deep", "deep_for", "middle", "top",
                 "exceptions_from_generators", "exception_state",
                 "close_and_throw_after_inline_resumes"}

    def run_workload(self, *options):
        script, res = self.run_script(GENERATORS_WORKLOAD, *options,
                                      name="generators")
        self.assertEqual(res.err, "")
        values = self.values(res.out)
        quickened = set(eval(values.pop("quickened")))
        self.assertEqual(len(values), 20, res.out)
        return script, res, values, quickened

    def check_backend(self, backend):
        _, _, plain, quickened = self.run_workload()
        self.assertEqual(quickened, set())
        script, res, inline, quickened = self.run_workload("-X", backend)
        self.assertLessEqual(self.QUICKENED, quickened)
        self.assertEqual(inline.keys(), plain.keys())
        for key in plain:
            with self.subTest(key=key):
                self.assertNotIn("'differs'", plain[key])
                self.assertEqual(inline[key], plain[key])
        return script, res

    def test_same_results_as_without_perf_support(self):
        script, res = self.check_backend("perf")
        self.assertNamed(self.perf_map_names(res.pid), script,
                         present=("numbers", "squares", "leaf", "deep"))

    def test_same_results_as_without_perf_support_perf_jit(self):
        script, res = self.check_backend("perf_jit")
        self.assertNamed(self.jit_names(self.read_jitdump(res.pid)), script,
                         present=("numbers", "squares", "leaf", "deep"))

    def test_hook_installed_while_the_loop_runs(self):
        # Deactivated, and another PEP 523 hook installed, while a loop
        # quickened for inline resumption runs: the new hook sees every
        # resumption from then on, as it does without perf support.
        import_helper.import_module("_testinternalcapi")
        source = """
            import sys, _testinternalcapi
            def gen(n):
                for i in range(n):
                    yield i
            def main():
                for k in range(20):
                    if k == 15:
                        if sys.is_stack_trampoline_active():
                            sys.deactivate_stack_trampoline()
                        seen = []
                        _testinternalcapi.set_eval_frame_record(seen)
                    for x in gen(3):
                        pass
                _testinternalcapi.set_eval_frame_default()
                print(f"seen={seen}")
            main()
            """
        _, plain = self.run_script(source)
        _, res = self.run_script(source, "-X", "perf", name="script2")
        seen = self.values(plain.out)["seen"]
        # 5 loops x (the call that makes the generator + 4 resumptions)
        self.assertEqual(seen.count("'gen'"), 25)
        self.assertEqual(self.values(res.out)["seen"], seen)


class TestTrampolinedExecution(PerfTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = cls.enterClassContext(os_helper.temp_dir())
        cls.script = script_helper.make_script(cls.dir, "workload", WORKLOAD)

    def run_workload(self, *options):
        res = self.run_python(*options, self.script)
        self.assertEqual(res.err, "")
        return res, self.values(res.out)

    def assertSameResults(self, option):
        _, plain = self.run_workload()
        res, trampolined = self.run_workload("-X", option)
        self.assertLessEqual({"fib", "kw", "traceback", "chained", "gen",
                              "echo", "coro", "caller", "recursion", "trace",
                              "profile"}, set(plain))
        self.assertEqual(set(trampolined), set(plain))
        for key in sorted(plain):
            with self.subTest(key=key):
                self.assertEqual(trampolined[key], plain[key])
        return res

    def test_same_results_as_untrampolined(self):
        res = self.assertSameResults("perf")
        # The trampolines were really used.
        names = self.perf_map_names(res.pid)
        for func in ("fib", "e3", "squares", "echo", "a_add", "recurse",
                     "tracer", "profiler", "traced_inner", "Point.norm2",
                     "<lambda>"):
            with self.subTest(func=func):
                self.assertIn(f"py::{func}:{self.script}", names)

    def test_same_results_as_untrampolined_perf_jit(self):
        res = self.assertSameResults("perf_jit")
        names = self.jit_names(self.read_jitdump(res.pid))
        for func in ("fib", "squares", "a_add", "recurse"):
            with self.subTest(func=func):
                self.assertIn(f"py::{func}:{self.script}", names)

    def test_deep_recursion_high_limit(self):
        # 3.11 runs Python-to-Python calls without C recursion, so a raised
        # recursion limit lets pure Python code recurse very deep.  With
        # trampolines each call also takes native stack: that must never
        # crash (the correct result or a clean RecursionError).
        source = """
            import sys
            sys.setrecursionlimit(200_000)
            def down(n):
                if n == 0:
                    return 0
                return down(n - 1) + 1
            try:
                print(f"result={down(100_000)}")
            except RecursionError:
                print("result=RecursionError")
            print(f"after={down(100)}")
            """
        _, plain = self.run_script(source)
        self.assertEqual(self.values(plain.out)["result"], "100000")
        script, res = self.run_script(source, "-X", "perf", name="script2")
        # Past a quarter of the C stack from its end, calls are inlined
        # without a record: no C stack at all, as without perf support.
        self.assertEqual(self.values(res.out)["result"], "100000")
        self.assertEqual(self.values(res.out)["after"], "100")
        self.assertIn(f"py::down:{script}", self.perf_map_names(res.pid))

    def test_recursion_through_c(self):
        # Frames entered from C (here by f(*a, **k)) each take a stub with
        # its reserve and an evaluator activation, and 3.11 bounds C
        # recursion only by the recursion limit: such a recursion must end
        # in RecursionError, never in a crash, on the main thread with a
        # raised limit and on threads with small stacks.  (It crashed with
        # a limit of 12,000, and on threads of 384 KiB at the default
        # limit.)
        # The same for generators resumed from C, here by "yield from":
        # each level is a C call of gen_send_ex2(), through the hook.
        source = """
            import functools, sys, threading
            def deco(f):
                @functools.wraps(f)
                def wrapper(*a, **k):
                    return f(*a, **k)
                return wrapper
            @deco
            def f(n):
                return f(n + 1)
            def nest(n):
                yield from nest(n + 1)
            def run(name):
                try:
                    if kind == "call":
                        f(0)
                    else:
                        next(nest(0))
                except RecursionError:
                    print(f"{name}=RecursionError")
            limit, stack_kib = int(sys.argv[1]), int(sys.argv[2])
            kind = sys.argv[3]
            sys.setrecursionlimit(limit)
            if stack_kib:
                threading.stack_size(stack_kib * 1024)
                t = threading.Thread(target=run, args=("thread",))
                t.start()
                t.join()
            else:
                run("main")
            """
        cases = [(backend, kind, limit, stack_kib)
                 for backend in ("perf", "perf_jit")
                 for kind in ("call", "gen")
                 for limit, stack_kib in ((12_000, 0), (1000, 256),
                                          (1000, 384), (1000, 640))]
        for backend, kind, limit, stack_kib in cases:
            with self.subTest(backend=backend, kind=kind, limit=limit,
                              stack_kib=stack_kib):
                script, res = self.run_script(
                    source, "-X", backend,
                    args=(str(limit), str(stack_kib), kind))
                where = "thread" if stack_kib else "main"
                self.assertEqual(self.values(res.out).get(where),
                                 "RecursionError", res.err)
                if backend == "perf":
                    names = self.perf_map_names(res.pid)
                else:
                    names = self.jit_names(self.read_jitdump(res.pid))
                func = "deco.<locals>.wrapper" if kind == "call" else "nest"
                self.assertIn(f"py::{func}:{script}", names)

    def test_throw_into_generator_with_unencodable_filename(self):
        # The first resume through the hook is a throw(): the thrown
        # exception is pending while the trampoline is made, and naming
        # it handles (and must not clear) an encoding error.
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                _, res = self.run_script(f"""
                    import sys
                    src = "def gen():\\n    yield 1\\n    yield 2\\n"
                    ns = {{}}
                    exec(compile(src, "\\udcff.py", "exec"), ns)
                    g = ns["gen"]()
                    sys.activate_stack_trampoline("{backend}")
                    try:
                        g.throw(ValueError("thrown"))
                    except Exception as exc:
                        print(f"caught={{type(exc).__name__}}:{{exc}}")
                    sys.deactivate_stack_trampoline()
                    """)
                self.assertEqual(self.values(res.out)["caught"],
                                 "ValueError:thrown")

    def test_debug_allocator(self):
        res = self.run_python("-X", "perf", self.script,
                              env={"PYTHONMALLOC": "debug"})
        self.assertEqual(res.err, "")
        _, plain = self.run_workload()
        self.assertEqual(self.values(res.out), plain)
        self.assertIn(f"py::fib:{self.script}", self.perf_map_names(res.pid))

    def test_subinterpreters(self):
        import_helper.import_module("_testcapi")
        script, res = self.run_script('''
            import _testcapi, sys
            code = """if 1:
                import sys
                def in_subinterp(n):
                    return sum(range(n))
                assert in_subinterp(10) == 45
                sys.deactivate_stack_trampoline()
                assert in_subinterp(10) == 45
                sys.activate_stack_trampoline("perf")
                assert in_subinterp(10) == 45
                sys.deactivate_stack_trampoline()
                """
            print(f"r1={_testcapi.run_in_subinterp(code)}")
            def in_main():
                return 1
            print(f"main={in_main()}")
            print(f"r2={_testcapi.run_in_subinterp(code)}")
            print(f"active={sys.is_stack_trampoline_active()}")
            ''', "-X", "perf", name="subinterp")
        self.assertEqual(self.values(res.out), {
            "r1": "0", "r2": "0", "main": "1", "active": "True"})
        self.assertIn(f"py::in_main:{script}",
                      self.perf_map_names(res.pid))

    def test_subinterpreter_cannot_switch_backend(self):
        # The backend (and so the output file) is one per process: an
        # interpreter may not move the others' functions to another file.
        import_helper.import_module("_testcapi")
        script, res = self.run_script('''
            import _testcapi, os, sys
            code = """if 1:
                import sys
                try:
                    sys.activate_stack_trampoline("perf_jit")
                except RuntimeError as exc:
                    print(f"error={exc}")
                sys.activate_stack_trampoline("perf")
                print(f"sub_active={sys.is_stack_trampoline_active()}")
                """
            print(f"r={_testcapi.run_in_subinterp(code)}")
            def after_sub():
                return 1
            after_sub()
            print(f"active={sys.is_stack_trampoline_active()}")
            print(f"dump={os.path.exists(f'/tmp/jit-{os.getpid()}.dump')}")
            ''', "-X", "perf", name="subinterp")
        self.assertEqual(self.values(res.out), {
            "error": "cannot activate the perf trampoline with the "
                     "perf_jit backend: another interpreter uses the perf "
                     "backend (one backend per process)",
            "sub_active": "True", "r": "0", "active": "True",
            "dump": "False"})
        self.assertIn(f"py::after_sub:{script}",
                      self.perf_map_names(res.pid))

    def test_expected_values(self):
        _, values = self.run_workload("-X", "perf")
        self.assertEqual(values["fib"], "6765")
        self.assertEqual(values["kw"], repr([
            (1, 2, (), 3, 4, []), (1, 5, (6, 7), 8, 9, [("e", 10)]),
            (1, 2, (), 3, 4, [("z", 0)])]))
        self.assertEqual(values["defaults"], "[1, 2, 3]")
        self.assertEqual(values["finally_ran"], "True")
        self.assertEqual(values["tb_names"], "['<module>', 'e1', 'e2', 'e3']")
        self.assertEqual(values["gen"], repr([i * i for i in range(10)]))
        self.assertEqual(values["echo"], "[1, 'VE', 2]")
        self.assertEqual(values["yield_from"], "[0, 1, 4, 9]")
        self.assertEqual(values["coro"], "[0, 2, 4, 6, 8, 'async boom']")
        self.assertEqual(values["caller"], "'the_caller'")
        recursion = eval(values["recursion"])
        self.assertEqual(recursion[0], "RecursionError")
        self.assertGreater(recursion[1], 900)
        self.assertLessEqual(recursion[1], 1000)
        self.assertEqual(values["recursion_again"], values["recursion"])
        self.assertIn("raise KeyError(\"deep\")", values["traceback"])
        self.assertIn("The above exception was the direct cause",
                      values["chained"])


# ---------------------------------------------------------------------------
# perf itself
# ---------------------------------------------------------------------------

def perf_unusable_reason():
    """None if perf can record here, else why not."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is absent (no perf command on PATH)"
    with os_helper.temp_dir() as tmp:
        output = os.path.join(tmp, "probe.data")
        try:
            proc = subprocess.run(
                [perf, "--buildid-dir", os.path.join(tmp, "buildid"),
                 "record", "-N", "-e", "cpu-clock", "-o", output, "--",
                 "true"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=support.SHORT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"perf is present but cannot record: {exc}"
        if proc.returncode != 0:
            msg = proc.stdout.decode(errors="replace").strip()
            msg = msg.splitlines()[-1] if msg else ""
            return ("perf is present but cannot record (not root, or "
                    "kernel.perf_event_paranoid too high?): " + msg)
    return None


def frame_pointers_enabled():
    flags = " ".join(str(sysconfig.get_config_var(name) or "")
                     for name in ("PY_CFLAGS_NODIST", "CFLAGS_NODIST",
                                  "PY_CORE_CFLAGS", "PY_CFLAGS", "CFLAGS"))
    return "-fno-omit-frame-pointer" in flags


PROFILED_SCRIPT = """
import os
print(f"pid={os.getpid()}", flush=True)

def foo(n):
    result = 0
    for _ in range(n):
        result += 1
    return result

def bar(n):
    foo(n)

def baz(n):
    bar(n)

baz(10_000_000)
"""

# Inlined calls run behind frame records that the evaluator writes into
# the stub's reserve, 15 per activation, and takes back when the frame is
# popped.  This script nests 40 levels (three activations' worth), then,
# before it spins, makes every kind of frame pop go past the records:
# returns, generator functions (their first frame becomes the
# generator's), exceptions unwinding 30 levels, and frames that outlive a
# deactivation.  A record left behind would show up as an extra frame.
# The first descent only creates the trampolines (a function's first call
# is a real call through its trampoline); the second runs on records.
PROFILED_DEEP_SCRIPT = """
import os, sys
print(f"pid={os.getpid()}", flush=True)

def make_gen(n):
    yield n

def fail(n):
    if n == 0:
        raise ValueError(n)
    fail(n - 1)

def toggled(n):
    if n == 0:
        sys.deactivate_stack_trampoline()
        sys.activate_stack_trampoline(BACKEND)
        return 0
    return toggled(n - 1) + 1

def spin(n):
    if n == 0:
        return 0
    for _ in range(20):
        for gen in [make_gen(i) for i in range(100)]:
            next(gen)
        try:
            fail(30)
        except ValueError:
            pass
        toggled(20)
    total = 0
    for i in range(n):
        total += i
    return total

source = "def level_39(n):\\n    return spin(n)\\n"
for i in range(38, -1, -1):
    source += f"def level_{i}(n):\\n    return level_{i + 1}(n)\\n"
exec(compile(source, __file__, "exec"))
level_0(0)
level_0(SPIN)
"""

PROFILED_KINDS_SCRIPT = """
import asyncio, os, threading
print(f"pid={os.getpid()}", flush=True)

def gen_worker(n):
    for i in range(n):
        total = 0
        for j in range(200):
            total += j
        yield total

def consume_gen():
    return sum(gen_worker(6000))

async def coro_worker(n):
    total = 0
    for i in range(n):
        for j in range(200):
            total += j
        if i % 1000 == 0:
            await asyncio.sleep(0)
    return total

async def coro_main():
    return await coro_worker(6000)

def thread_worker(n):
    total = 0
    for i in range(n):
        for j in range(200):
            total += j
    return total

consume_gen()
asyncio.run(coro_main())
t = threading.Thread(target=thread_worker, args=(6000,))
t.start()
t.join()
"""


PROFILED_GENERATORS_SCRIPT = """
import os
print(f"pid={os.getpid()}", flush=True)

def produce(n):
    for i in range(n):
        total = 0
        for j in range(300):
            total += j
        yield total

def relay(seq):
    for x in seq:
        yield x

def delegate(n):
    yield from relay(produce(n))

def consume(n):
    t = 0
    for x in relay(delegate(n)):
        t += x
    return t

for _ in range(10):
    consume(20)             # quickened from here on
consume(SPIN)
"""


def parse_perf_script(text):
    """Split `perf script` output into samples: lists of symbol strings,
    leaf first."""
    samples = []
    frames = None
    for line in text.splitlines():
        if not line.strip():
            if frames is not None:
                samples.append(frames)
            frames = None
        elif line[0] in " \t":
            if frames is not None:
                parts = line.split(None, 1)
                frames.append(parts[1] if len(parts) > 1 else "")
        else:
            if frames is not None:
                samples.append(frames)
            frames = []
    if frames is not None:
        samples.append(frames)
    return samples


def python_frames(frames):
    """The qualnames of the py:: frames of a sample, leaf first."""
    result = []
    for sym in frames:
        m = re.match(r"py::(.+?):/", sym)
        if m:
            result.append(m.group(1))
    return result


@unittest.skipUnless(sys.platform == "linux", "perf is Linux only")
class TestPerfProfiler(PerfTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reason = perf_unusable_reason()
        if reason:
            raise unittest.SkipTest(reason)
        if not frame_pointers_enabled():
            raise unittest.SkipTest("perf map unwinding needs an interpreter "
                                    "built with frame pointers")
        cls.perf = shutil.which("perf")

    def perf_command(self, *args):
        # A private build-id cache: perf (perf inject --jit above all) must
        # not fill the user's ~/.debug.
        return [self.perf, "--buildid-dir",
                os.path.join(self.tmpdir(), "buildid"), *args]

    def perf_record(self, source, *python_options, record_options=("-g",),
                    rc=0):
        script = self.make_script(source, "profiled")
        data = os.path.join(self.tmpdir(), "perf.data")
        cmd = self.perf_command(
            "record", "-N", "-F", "999", *record_options, "-e", "cpu-clock",
            "-o", data, "--", *STALE_FILES_WRAPPER,
            sys.executable, *python_options, script)
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=child_env(), timeout=support.LONG_TIMEOUT)
        out = proc.stdout.decode(errors="replace")
        pids = self.child_pids(out)
        for pid in pids:
            self.track_pid(pid)
        if proc.returncode != rc:
            self.fail(f"perf record exited with {proc.returncode}, expected "
                      f"{rc}: {cmd}\n"
                      f"{out}\n{proc.stderr.decode(errors='replace')}")
        self.assertEqual(len(pids), 1, out)
        return script, data, pids[0]

    def perf_script(self, data, *options):
        proc = subprocess.run(self.perf_command("script", "-i", data,
                                                *options),
                              stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=support.LONG_TIMEOUT)
        self.assertEqual(proc.returncode, 0,
                         proc.stderr.decode(errors="replace"))
        return proc.stdout.decode(errors="replace")

    def test_python_frames_in_stacks(self):
        script, data, pid = self.perf_record(PROFILED_SCRIPT, "-X", "perf")
        self.assertTrue(os.path.exists(perf_map_file(pid)))
        text = self.perf_script(data)
        self.assertIn(f"py::foo:{script}", text)
        samples = [python_frames(s) for s in parse_perf_script(text)]
        in_foo = [s for s in samples if s and s[0] == "foo"]
        self.assertGreaterEqual(len(in_foo), 20,
                                f"too few samples in foo: {len(in_foo)}")
        expected = ["foo", "bar", "baz", "<module>"]
        good = [s for s in in_foo if s[:4] == expected]
        self.assertGreaterEqual(
            len(good), 0.8 * len(in_foo),
            f"only {len(good)} of {len(in_foo)} samples in foo have the "
            f"stack {expected}; examples of others: "
            f"{[s for s in in_foo if s[:4] != expected][:5]}")

    def test_no_python_frames_without_support(self):
        script, data, pid = self.perf_record(PROFILED_SCRIPT)
        self.assertFalse(os.path.exists(perf_map_file(pid)))
        text = self.perf_script(data)
        self.assertGreater(len(parse_perf_script(text)), 20)
        self.assertNotIn("py::", text)

    def test_generators_coroutines_threads(self):
        script, data, pid = self.perf_record(PROFILED_KINDS_SCRIPT,
                                             "-X", "perf")
        text = self.perf_script(data)
        seen = set()
        for sample in parse_perf_script(text):
            seen.update(python_frames(sample))
        for func in ("gen_worker", "consume_gen", "coro_worker", "coro_main",
                     "thread_worker"):
            with self.subTest(func=func):
                self.assertIn(func, seen)

    def test_generators_resumed_inline(self):
        # A for loop, yield from and another for loop resume the
        # generators in the activation that runs them, each behind a frame
        # record: every sample in produce() shows the whole chain, in one
        # evaluator activation (not one per generator, as when C code
        # resumes them).
        source = PROFILED_GENERATORS_SCRIPT.replace("SPIN", "40_000")
        script, data, pid = self.perf_record(source, "-X", "perf")
        self.check_generator_stacks(self.perf_script(data))

    def test_generators_resumed_inline_dwarf(self):
        # The same records, unwound with the jitdump's rules for the stub.
        source = PROFILED_GENERATORS_SCRIPT.replace("SPIN", "40_000")
        script, data, pid = self.perf_record(
            source, "-X", "perf_jit",
            record_options=("--call-graph", "dwarf,65528", "-k", "1"))
        self.check_generator_stacks(
            self.perf_script(self.perf_inject(data, pid)))

    def check_generator_stacks(self, text):
        raw = [s for s in parse_perf_script(text)
               if python_frames(s)[:1] == ["produce"]]
        self.assertGreaterEqual(len(raw), 20,
                                f"too few samples in produce: {len(raw)}")
        expected = ["produce", "relay", "delegate", "relay", "consume",
                    "<module>"]
        stacks = [python_frames(s) for s in raw]
        good = [s for s in stacks if s == expected]
        self.assertGreaterEqual(
            len(good), 0.8 * len(stacks),
            f"only {len(good)} of {len(stacks)} samples in produce have "
            f"the stack {expected}; examples of others: "
            f"{[s for s in stacks if s != expected][:3]}")
        activations = sorted(
            sum("_PyEval_EvalFrameDefault" in sym for sym in s) for s in raw)
        self.assertEqual(activations[len(activations) // 2], 1,
                         "the generators ran in more evaluator activations "
                         "than the module's")

    def test_activated_at_runtime(self):
        call = "baz(10_000_000)"
        self.assertIn(call, PROFILED_SCRIPT)
        source = PROFILED_SCRIPT.replace(
            call,
            "import sys\n"
            "sys.activate_stack_trampoline('perf')\n"
            f"{call}\n"
            "sys.deactivate_stack_trampoline()\n")
        script, data, pid = self.perf_record(source)
        samples = [python_frames(s)
                   for s in parse_perf_script(self.perf_script(data))]
        in_foo = [s for s in samples if s and s[0] == "foo"]
        self.assertGreaterEqual(len(in_foo), 20)
        good = [s for s in in_foo if s[:3] == ["foo", "bar", "baz"]]
        self.assertGreaterEqual(len(good), 0.8 * len(in_foo))

    DEEP_EXPECTED = (["spin"] + [f"level_{i}" for i in range(39, -1, -1)]
                     + ["<module>"])

    def check_deep_stacks(self, text):
        raw = [s for s in parse_perf_script(text)
               if python_frames(s)[:1] == ["spin"]]
        in_spin = [python_frames(s) for s in raw]
        self.assertGreaterEqual(len(in_spin), 20,
                                f"too few samples in spin: {len(in_spin)}")
        # The whole stack, exactly: no frame missing, none left over.
        good = [s for s in in_spin if s == self.DEEP_EXPECTED]
        self.assertGreaterEqual(
            len(good), 0.8 * len(in_spin),
            f"only {len(good)} of {len(in_spin)} samples in spin have the "
            f"expected stack; examples of others: "
            f"{[s for s in in_spin if s != self.DEEP_EXPECTED][:3]}")
        # And the inlined calls ran on frame records, not as C calls: one
        # evaluator activation per 33 levels (and the module's), not one
        # per level.
        activations = sorted(
            sum("_PyEval_EvalFrameDefault" in sym for sym in s) for s in raw)
        self.assertLessEqual(activations[len(activations) // 2], 5,
                             "the 40 levels ran in more evaluator "
                             "activations than their frame records need")

    def deep_script(self, backend):
        return (PROFILED_DEEP_SCRIPT.replace("BACKEND", repr(backend))
                .replace("SPIN", "15_000_000"))

    def test_deep_inlined_calls(self):
        script, data, pid = self.perf_record(self.deep_script("perf"),
                                             "-X", "perf")
        self.check_deep_stacks(self.perf_script(data))

    def test_deep_inlined_calls_dwarf(self):
        # perf_jit with DWARF unwinding: the unwinder follows the records
        # with the stub's unwinding rules, from the copied stack, which
        # must reach the outermost level (perf's largest copy; 16 KiB
        # stops short of it here).
        script, data, pid = self.perf_record(
            self.deep_script("perf_jit"), "-X", "perf_jit",
            record_options=("--call-graph", "dwarf,65528", "-k", "1"))
        self.check_deep_stacks(self.perf_script(self.perf_inject(data, pid)))

    def test_perf_jit_inject(self):
        # jitdump + perf inject --jit: the synthesized images carry the
        # Python names.
        script, data, pid = self.perf_record(
            PROFILED_SCRIPT, "-X", "perf_jit",
            record_options=("-g", "-k", "1"))
        self.assertInjectedNames(data, pid)

    def test_perf_jit_inject_after_sigterm(self):
        # A process stopped by a signal it does not handle (SIGTERM, the
        # way servers are stopped) never exits cleanly: the records it
        # buffered reach the dump only through the writer's flusher
        # thread.  perf inject must still name its functions.  (Without
        # the thread the dump held only its header.)
        source = PROFILED_SCRIPT.replace(
            "import os\n", "import os, signal\n").replace(
            "    bar(n)\n",
            "    bar(n)\n    os.kill(os.getpid(), signal.SIGTERM)\n")
        self.assertIn("signal.SIGTERM", source)
        script, data, pid = self.perf_record(
            source, "-X", "perf_jit", record_options=("-g", "-k", "1"),
            rc=-signal.SIGTERM)       # perf record dies of it too
        dump = self.read_jitdump(pid)
        self.assertNotEqual(dump.records[-1].id, JIT_CODE_CLOSE,
                            "the process exited cleanly after all")
        self.assertInjectedNames(data, pid)

    def assertInjectedNames(self, data, pid):
        jitted = self.perf_inject(data, pid)
        samples = [python_frames(s)
                   for s in parse_perf_script(self.perf_script(jitted))]
        in_foo = [s for s in samples if s and s[0] == "foo"]
        self.assertGreaterEqual(len(in_foo), 20)
        expected = ["foo", "bar", "baz", "<module>"]
        good = [s for s in in_foo if s[:4] == expected]
        self.assertGreaterEqual(len(good), 0.8 * len(in_foo))

    def perf_inject(self, data, pid):
        """perf inject --jit: a copy of data with the jitted images of
        the process pid, which are removed when the test ends."""
        jitted = os.path.join(self.tmpdir(), "jitted.data")
        self.addCleanup(self.remove_jitted_images, pid)
        proc = subprocess.run(
            self.perf_command("inject", "--jit", "-i", data, "-o", jitted),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=support.LONG_TIMEOUT)
        self.assertEqual(proc.returncode, 0,
                         proc.stderr.decode(errors="replace"))
        return jitted

    @staticmethod
    def remove_jitted_images(pid):
        # perf inject writes jitted-<pid>-<n>.so next to the dump.
        for name in os.listdir("/tmp"):
            if name.startswith(f"jitted-{pid}-") and name.endswith(".so"):
                os_helper.unlink(os.path.join("/tmp", name))


# ---------------------------------------------------------------------------
# 11. Edge cases of the map and jitdump writers
# ---------------------------------------------------------------------------

# Prints every warning of activation and deactivation as "warning=<text>".
ACTIVATE_PRINTING_WARNINGS = """
import sys, warnings
def activate(backend):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sys.activate_stack_trampoline(backend)
    for w in caught:
        print(f"warning={w.message}")
"""


class TestWriterEdgeCases(PerfTestCase):

    def make_tmp_file(self, content=b""):
        """A file of ours in /tmp itself (a hard link needs the same file
        system as the perf files), removed after the test."""
        fd, path = tempfile.mkstemp(dir="/tmp", prefix="test_perf_")
        self.addCleanup(os_helper.unlink, path)
        with open(fd, "wb") as f:
            f.write(content)
        return path

    def run_init_cycles(self, code):
        """Run code in 4 Py_Initialize()/Py_Finalize() cycles of one
        process (Programs/_testembed); return (pid, stdout)."""
        testembed = os.path.join(os.path.dirname(sys.executable),
                                 "Programs", "_testembed")
        if not os.path.exists(testembed):
            self.skipTest("needs Programs/_testembed of a build tree")
        with subprocess.Popen([testembed, "test_repeated_init_exec", code],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=child_env(),
                              cwd=os.path.dirname(sys.executable),
                              preexec_fn=remove_own_stale_files) as proc:
            self.track_pid(proc.pid)
            out, err = proc.communicate(timeout=support.SHORT_TIMEOUT)
        self.assertEqual(proc.returncode, 0, err)
        return proc.pid, out

    def test_hardlinked_map_refused(self):
        # A hard link at the map's path names another file: it is neither
        # emptied as a leftover (when old) nor appended to (when recent).
        source = ACTIVATE_PRINTING_WARNINGS + """
import os, time
victim = sys.argv[1]
os.link(victim, f"/tmp/perf-{os.getpid()}.map")
if sys.argv[2] == "old":
    then = time.time() - 3600
    os.utime(victim, (then, then))
def f(n):
    return n + 1
activate("perf")
total = sum(f(i) for i in range(100))
sys.deactivate_stack_trampoline()
print(f"total={total}")
"""
        for case in ("old", "recent"):
            with self.subTest(case=case):
                victim = self.make_tmp_file(b"victim\n")
                os.chmod(victim, 0o644)
                _, res = self.run_script(source, args=[victim, case])
                self.assertEqual(self.values(res.out)["total"], "5050")
                with open(victim, "rb") as f:
                    self.assertEqual(f.read(), b"victim\n")
                self.assertEqual(stat.S_IMODE(os.stat(victim).st_mode),
                                 0o644)
                self.assertIn("has 2 hard links", res.out)

    def test_hardlinked_jitdump_not_reopened(self):
        # The dump is closed at Py_Finalize() and reopened by the next
        # Py_Initialize() of an embedding application; a dump that got a
        # second name in between is not reopened and appended to.
        link = self.make_tmp_file()
        os.unlink(link)
        code = ACTIVATE_PRINTING_WARNINGS + f"""
import os
path = f"/tmp/jit-{{os.getpid()}}.dump"
if os.path.exists(path) and not os.path.exists({link!r}):
    os.link(path, {link!r})
    print(f"linked={{os.stat(path).st_size}}")
activate("perf_jit")
def f(n):
    return n + 1
f(1)
"""
        pid, out = self.run_init_cycles(code)
        # Created and closed by the first cycle, refused by the 3 others.
        size = int(self.values(out)["linked"])
        self.assertEqual(os.stat(jit_dump_file(pid)).st_size, size)
        self.assertEqual(out.count(f"jit-{pid}.dump has 2 hard links"),
                         3, out)
        self.read_jitdump(pid)

    def test_copy_perf_map_file_refuses_endless_sources(self):
        # The process's own map, a FIFO and /dev/zero never reach their end
        # while being copied: they are refused at once.  (Were the copy to
        # loop, RLIMIT_FSIZE, SIGXFSZ and an alarm end the child instead of
        # filling /tmp or hanging.)  A regular file is copied up to the
        # size it had at the start: 0 bytes for a /proc file.
        import_helper.import_module("_testinternalcapi")
        fifo = os.path.join(self.tmpdir(), "fifo")
        os.mkfifo(fifo)
        _, res = self.run_script("""
import os, resource, signal, sys, _testinternalcapi as t
assert t.perf_map_state_init() == 0
assert t.write_perf_map_entry(0x42, 0x8, "py::own:z.py") == 0
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
signal.alarm(3)
copy = t.copy_perf_map_file
print(f"self={copy(f'/tmp/perf-{os.getpid()}.map')}")
print(f"fifo={copy(sys.argv[1])}")
print(f"zero={copy('/dev/zero')}")
print(f"proc={copy('/proc/self/status')}")
signal.alarm(0)
t.perf_map_state_fini()
""", args=[fifo])
        self.assertEqual(self.values(res.out), {
            "self": "-1", "fifo": "-1", "zero": "-1", "proc": "0"})
        self.assertEqual(self.read_perf_map(res.pid, check_format=False),
                         ["42 8 py::own:z.py"])

    def test_own_map_never_a_leftover(self):
        # A map this process wrote is not emptied when the process opens it
        # again, even if its mtime now looks older than the process (the
        # wall clock stepped forward in between: NTP, a VM resume).
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
import os, time, _testinternalcapi as t
path = f"/tmp/perf-{os.getpid()}.map"
assert t.perf_map_state_init() == 0
assert t.write_perf_map_entry(0x1000, 0x10, "jit::first") == 0
t.perf_map_state_fini()
then = time.time() - 3600
os.utime(path, (then, then))
assert t.perf_map_state_init() == 0
assert t.write_perf_map_entry(0x2000, 0x10, "jit::second") == 0
t.perf_map_state_fini()
""")
        self.assertEqual(self.read_perf_map(res.pid, check_format=False),
                         ["1000 10 jit::first", "2000 10 jit::second"])

    def test_fork_child_still_tests_its_first_open(self):
        # What the parent remembers about its own map does not carry over
        # to a fork child: a leftover at the child's path is emptied.
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
import os, time, _testinternalcapi as t
assert t.perf_map_state_init() == 0
assert t.write_perf_map_entry(0x1000, 0x10, "jit::parent") == 0
pid = os.fork()
if pid == 0:
    path = f"/tmp/perf-{os.getpid()}.map"
    with open(path, "w") as f:
        f.write("dead 10 jit::left_by_a_dead_process\\n")
    then = time.time() - 3600
    os.utime(path, (then, then))
    assert t.write_perf_map_entry(0x2000, 0x10, "jit::child") == 0
    t.perf_map_state_fini()
    os._exit(0)
print(f"pid={pid}")
os.waitpid(pid, 0)
t.perf_map_state_fini()
""")
        child = self.child_pids(res.out)[0]
        self.assertEqual(self.read_perf_map(child, check_format=False),
                         ["2000 10 jit::child"])
        self.assertEqual(self.read_perf_map(res.pid, check_format=False),
                         ["1000 10 jit::parent"])

    def test_jitdump_refusal_names_the_cause(self):
        # A planted dump is refused with a warning that says why, like the
        # map writer's, without a second "perf_jit:" after "(perf_jit
        # backend)".
        target = os.path.join(self.tmpdir(), "target")
        with open(target, "wb") as f:
            f.write(b"untouched")
        source = ACTIVATE_PRINTING_WARNINGS + """
import os
path = f"/tmp/jit-{os.getpid()}.dump"
case = sys.argv[1]
if case == "symlink":
    os.symlink(sys.argv[2], path)
elif case == "fifo":
    os.mkfifo(path)
else:
    with open(path, "wb") as f:
        f.write(b"foreign")
    os.chown(path, 65534, 65534)
activate("perf_jit")
"""
        cases = {"symlink": "is a symbolic link",
                 "fifo": "exists and is not a regular file",
                 "foreign": "is owned by uid 65534"}
        if os.geteuid() != 0:
            del cases["foreign"]     # needs root to chown
        for case, cause in cases.items():
            with self.subTest(case=case):
                _, res = self.run_script(source, args=[case, target])
                warning = self.values(res.out)["warning"]
                self.assertIn(f"/tmp/jit-{res.pid}.dump {cause}", warning)
                self.assertNotIn("perf_jit:", warning)
                self.assertNotIn("not ours", warning)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"untouched")

    def test_write_perf_map_entry_unicode_line_breaks(self):
        # str.splitlines() also breaks lines at the C1 controls U+0080..
        # U+009F and at U+2028/U+2029: each becomes one "?", like a C0
        # control.  Other non-ASCII characters are kept.
        import_helper.import_module("_testinternalcapi")
        _, res = self.run_script("""
import _testinternalcapi as t
w = t.write_perf_map_entry
name = "a\x80b\x85c\x9fd\u2028e\u2029f\xa0g\u2027h\u00e9i\u20ac"
assert w(0x1000, 0x10, name) == 0
assert w(0x2000, 0x10, "end\x85") == 0
t.perf_map_state_fini()
""")
        with open(perf_map_file(res.pid), encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.assertEqual(lines, [
            "1000 10 a?b?c?d?e?f\xa0g\u2027h\u00e9i\u20ac",
            "2000 10 end?"])

    def test_jitdump_continued_after_exec(self):
        # A process that re-execs itself under perf_jit keeps the dump of
        # its first image (perf inject finds it through that image's mmap):
        # the new image maps it again and appends to it after its last
        # complete record, with code_index going on.  A torn record or a
        # CODE_CLOSE at its end is cut.
        source = ACTIVATE_PRINTING_WARNINGS + """
import os, struct, time
path = f"/tmp/jit-{os.getpid()}.dump"
tail = sys.argv[1]
def image_one_work(): return 1
def image_two_work(): return 2
if len(sys.argv) == 2:
    activate("perf_jit")
    image_one_work()
    sys.deactivate_stack_trampoline()       # flushes the records
    if tail == "badheader":
        with open(path, "r+b") as f:
            f.write(b"\\0\\0\\0\\0")
    else:
        with open(path, "ab") as f:
            if tail == "close":
                f.write(struct.pack("=IIQ", 3, 16, time.monotonic_ns()))
            elif tail == "torn":
                f.write(struct.pack("=IIQ", 0, 400, time.monotonic_ns())
                        + b"x" * 20)
    st = os.stat(path)
    print(f"ino1={st.st_ino}", flush=True)
    os.execv(sys.executable, [sys.executable, __file__, tail, "2"])
activate("perf_jit")
image_two_work()
with open(path, "rb") as f:
    data = f.read()
print(f"ino2={os.stat(path).st_ino}")
with open("/proc/self/maps") as f:
    print(f"mapped={path in f.read()}")
"""
        script = self.make_script(source)
        for tail in ("clean", "close", "torn"):
            with self.subTest(tail=tail):
                res = self.run_python(script, tail)
                values = self.values(res.out)
                self.assertNotIn("warning", values)
                self.assertEqual(values["ino1"], values["ino2"])
                self.assertEqual(values["mapped"], "True")
                dump = self.read_jitdump(res.pid)
                names = self.jit_names(dump)
                for func in ("image_one_work", "image_two_work"):
                    self.assertEqual(names.count(f"py::{func}:{script}"), 1)
                indexes = [r.fields["code_index"] for r in dump.records
                           if r.id == JIT_CODE_LOAD]
                self.assertEqual(indexes, sorted(set(indexes)))
                ids = [r.id for r in dump.records]
                self.assertEqual(ids.count(JIT_CODE_CLOSE), 1)
                self.assertEqual(ids[-1], JIT_CODE_CLOSE)
        with self.subTest(tail="badheader"):
            # Not a jitdump of this process: refused, left as it is.
            res = self.run_python(script, "badheader")
            values = self.values(res.out)
            self.assertIn("is not a jitdump of this process",
                          values["warning"])
            with open(jit_dump_file(res.pid), "rb") as f:
                self.assertEqual(f.read(4), b"\0\0\0\0")

    def test_jitdump_of_dead_process_with_same_pid_replaced(self):
        # A well-formed dump of our pid created before this process
        # started (its header's timestamp says so) is another process's:
        # replaced, never continued, even if it was written a moment ago
        # (a container's pid 1 restarted within a second).
        for age in ("old", "recent"):
            with self.subTest(age=age):
                self.check_dead_process_dump_replaced(age)

    def check_dead_process_dump_replaced(self, age):
        script, res = self.run_script(ACTIVATE_PRINTING_WARNINGS + """
import os, struct, time
pid = os.getpid()
path = f"/tmp/jit-{pid}.dump"
name = b"py::dead:x.py\\0"
size = (16 + 40 + len(name) + 7) // 8 * 8
load = struct.pack("=IIQIIQQQQ", 0, size, 1, pid, pid, 0x1000, 0x1000, 0,
                   7) + name
machine = 183 if os.uname().machine == "aarch64" else 62
with open(path, "wb") as f:
    f.write(struct.pack("=IIIIIIQQ", 0x4A695444, 1, 40, machine, 0, pid, 1,
                        0))
    f.write(load.ljust(size, b"\\0"))
# Last written by the dead process just before this one started (within
# the second of slack of a test by modification time alone), or long ago.
with open("/proc/self/stat") as f:
    ticks = int(f.read().rsplit(")", 1)[1].split()[19])
start = time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME)
                       - ticks / os.sysconf("SC_CLK_TCK"))
then = start - (0.1 if sys.argv[1] == "recent" else 3600)
os.utime(path, (then, then))
activate("perf_jit")
def after_dead(): return 1
after_dead()
""", args=[age])
        self.assertNotIn("warning", self.values(res.out))
        names = self.jit_names(self.read_jitdump(res.pid))
        self.assertNotIn("py::dead:x.py", names)
        self.assertIn(f"py::after_dead:{script}", names)

    def test_fork_child_copying_the_parent_map_keeps_its_own(self):
        # Parent and child go on creating trampolines in the same free
        # slots after fork(): the same address names different functions
        # in the two processes.  A child that copied the parent's map and
        # then had a write fail must still describe its own functions
        # (the parent's lines at those addresses name others).
        import_helper.import_module("_testinternalcapi")
        script, res = self.run_script("""
import os, sys, resource, signal
import _testinternalcapi as t
def make(prefix, n):
    ns = {}
    for i in range(n):
        exec(f"def {prefix}_{i}():\\n    return {i}\\n", ns)
    return [ns[f"{prefix}_{i}"] for i in range(n)]
sys.activate_stack_trampoline("perf")
r, w = os.pipe()
parent = os.getpid()
pid = os.fork()
if pid:
    for f in make("parent_only", 20):
        f()
    sys.deactivate_stack_trampoline()
    os.write(w, b"x")
    print(f"pid={pid}", flush=True)
    os.waitpid(pid, 0)
    sys.exit(0)
os.read(r, 1)
path = f"/tmp/perf-{os.getpid()}.map"
funcs = make("child_only", 5)
assert t.copy_perf_map_file(f"/tmp/perf-{parent}.map") == 0
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path), hard))
for f in funcs:
    f()
sys.deactivate_stack_trampoline()        # the write fails
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
sys.activate_stack_trampoline("perf")
for f in funcs:
    f()
sys.deactivate_stack_trampoline()
os._exit(0)
""")
        [child] = self.child_pids(res.out)
        names = self.perf_map_names(child)
        self.assertEqual(sorted(n for n in names
                                if n.startswith("py::child_only_")),
                         [f"py::child_only_{i}:<string>" for i in range(5)])

    def test_reinitialized_interpreter_describes_once(self):
        # Py_Finalize() closes the outputs; the next Py_Initialize() of an
        # embedding application reopens them and must not describe again
        # what they already have (a second CODE_LOAD per function is a
        # second jitted-*.so for perf inject).
        for backend in ("perf", "perf_jit"):
            with self.subTest(backend=backend):
                code = f"""
import sys
sys.activate_stack_trampoline({backend!r})
def described_once(n):
    return n + 1
described_once(1)
"""
                pid, _ = self.run_init_cycles(code)
                if backend == "perf":
                    names = self.perf_map_names(pid)
                else:
                    names = self.jit_names(self.read_jitdump(pid))
                self.assertEqual(
                    names.count("py::described_once:<string>"), 1, names)
                self.assertEqual(len(names), len(set(names)))

    def test_reinitialized_after_a_backend_switch(self):
        # The first cycle ends with perf_jit current, the next ones start
        # with perf: each output must still know what it has (one
        # description per function in each, none missing).
        code = """
import os, sys
n = int(os.environ.get("PERF_TEST_CYCLE", "0"))
os.environ["PERF_TEST_CYCLE"] = str(n + 1)
def only_map(): return 1
def only_jit(): return 2
if n == 0:
    sys.activate_stack_trampoline("perf")
    only_map()
    sys.activate_stack_trampoline("perf_jit")
    only_jit()
else:
    sys.activate_stack_trampoline("perf")
    sys.activate_stack_trampoline("perf_jit")
    only_map()
    only_jit()
"""
        pid, _ = self.run_init_cycles(code)
        jit = self.jit_names(self.read_jitdump(pid))
        self.assertEqual(sorted(jit), ["py::only_jit:<string>",
                                       "py::only_map:<string>"])
        self.assertEqual(self.perf_map_names(pid),
                         ["py::only_map:<string>"])


if __name__ == "__main__":
    unittest.main()
