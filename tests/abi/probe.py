"""Driver for tests/test_abi.sh: import an abiprobe build and exercise it.

    python probe.py OUT.json

abiprobe must be importable (PYTHONPATH).  With the perf support present,
the trampoline is activated first, so every call below (Python -> C ->
Python, code compiled and run from C, PyCode_NewEmpty's code) goes through
it, and the functions must appear in /tmp/perf-<pid>.map.  Writes the
module's compile-time layout to OUT.json and fails (exit 1) on any
mismatch between what the module reads through its own offsets and what
the interpreter reports.
"""

import json
import os
import sys
import threading

import abiprobe

failures = []


def check(what, got, expected):
    if got != expected:
        failures.append("%s: got %r, expected %r" % (what, got, expected))


perf = hasattr(sys, "activate_stack_trampoline")
if perf:
    sys.activate_stack_trampoline("perf")
    check("trampoline active", sys.is_stack_trampoline_active(), True)

# Live state read through the module's compile-time offsets.
import faulthandler
import sysconfig
import tracemalloc

rt = abiprobe.runtime()
f = sys.flags
expect = {
    "config.isolated": f.isolated,
    "config.use_environment": int(not f.ignore_environment),
    "config.dev_mode": int(f.dev_mode),
    "config.install_signal_handlers": 1,
    "config.faulthandler": int(faulthandler.is_enabled()),
    "config.tracemalloc": int(tracemalloc.is_tracing()),
    "config.import_time": int("importtime" in sys._xoptions),
    "config.filesystem_encoding": sys.getfilesystemencoding(),
    "config.filesystem_errors": sys.getfilesystemencodeerrors(),
    "config.pycache_prefix": sys.pycache_prefix,
    "config.parse_argv": 2,            # 2: argv already parsed
    "config.orig_argv": sys.orig_argv,
    "config.argv": sys.argv,
    "config.warnoptions": sys.warnoptions,
    "config.site_import": int(not f.no_site),
    "config.bytes_warning": f.bytes_warning,
    "config.warn_default_encoding": f.warn_default_encoding,
    "config.inspect": f.inspect,
    "config.interactive": f.interactive,
    "config.optimization_level": f.optimize,
    "config.write_bytecode": int(not f.dont_write_bytecode),
    "config.verbose": f.verbose,
    "config.quiet": f.quiet,
    "config.user_site_directory": int(not f.no_user_site),
    "config.safe_path": int(f.safe_path),
    "config.pathconfig_warnings": 1,
    "config.platlibdir": sys.platlibdir,
    "config.module_search_paths_set": 1,
    "config.stdlib_dir": sys._stdlib_dir,
    "config.executable": sys.executable,
    "config.base_executable": sys._base_executable,
    "config.prefix": sys.prefix,
    "config.base_prefix": sys.base_prefix,
    "config.exec_prefix": sys.exec_prefix,
    "config.base_exec_prefix": sys.base_exec_prefix,
    "config.skip_source_first_line": 0,
    "config.run_command": None,
    "config.run_module": None,
    "config.run_filename": os.path.abspath(sys.argv[0]),
    "config._install_importlib": 1,
    "config._init_main": 1,
    "config._isolated_interpreter": 0,
    "config._is_python_build": int(sysconfig.is_python_build()),
    "ts.interp_is_current": True,
    "ts.interp_matches_api": True,
    "ts.recursion_limit": sys.getrecursionlimit(),
    "ts.cframe_set": True,
    "ts.c_profileobj": None,
    "ts.c_traceobj": None,
    "ts.c_profilefunc_set": False,
    "ts.curexc_clear": True,
    "ts.exc_info.exc_value": None,
    "ts.dict_matches": True,
    "ts.thread_id": threading.get_ident(),
    "ts.native_thread_id": threading.get_native_id(),
    "ts.coroutine_origin_tracking_depth": 0,
    "ts.async_gen_firstiter": None,
    "ts.async_gen_finalizer": None,
    "ts.id_matches": True,
    "ts.datastack_sane": True,
}
xopts = sorted(x.split("=")[0] for x in rt.pop("config.xoptions"))
check("PyConfig.xoptions", xopts, sorted(sys._xoptions))
check("runtime() keys", sorted(rt), sorted(expect))
for key in sorted(expect):
    check(key, rt.get(key), expect[key])

# Thread state fields set through the sys API, read back at our offsets.
def profiler(frame, event, arg):
    pass


def firstiter(agen):
    pass


def finalizer(agen):
    pass


sys.setprofile(profiler)
try:
    rt = abiprobe.runtime()
finally:
    sys.setprofile(None)
check("PyThreadState.c_profileobj", rt["ts.c_profileobj"], profiler)
check("PyThreadState.c_profilefunc", rt["ts.c_profilefunc_set"], True)
old_hooks = sys.get_asyncgen_hooks()
sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
sys.set_coroutine_origin_tracking_depth(7)
try:
    rt = abiprobe.runtime()
finally:
    sys.set_asyncgen_hooks(*old_hooks)
    sys.set_coroutine_origin_tracking_depth(0)
check("PyThreadState.async_gen_firstiter", rt["ts.async_gen_firstiter"], firstiter)
check("PyThreadState.async_gen_finalizer", rt["ts.async_gen_finalizer"], finalizer)
check("PyThreadState.coroutine_origin_tracking_depth",
      rt["ts.coroutine_origin_tracking_depth"], 7)
try:
    raise KeyError("handled")
except KeyError as exc:
    rt = abiprobe.runtime()
    check("PyThreadState.exc_info->exc_value", rt["ts.exc_info.exc_value"], exc)

# The same in a second thread (a PyThreadState the module did not see yet).
box = {}
t = threading.Thread(target=lambda: box.update(
    rt=abiprobe.runtime(), ident=threading.get_ident(),
    native=threading.get_native_id()))
t.start()
t.join()
check("thread: PyThreadState.thread_id", box["rt"]["ts.thread_id"], box["ident"])
check("thread: PyThreadState.native_thread_id", box["rt"]["ts.native_thread_id"],
      box["native"])
check("thread: PyThreadState.dict", box["rt"]["ts.dict_matches"], True)

# The library fills a PyConfig of the module's size.
check("PyConfig_InitIsolatedConfig/SetString/Clear", abiprobe.config_guard(),
      {"guard_intact": True, "values_as_expected": True,
       "set_string_ok": True, "clear_ok": True})

# Python -> C -> Python, code objects made and run from C.
SOURCE = """\
def probe_fn(x):
    return x * 2

result = probe_fn(ARG)
"""


def inner(x):
    return abiprobe.compile_exec(SOURCE.replace("ARG", str(x)),
                                 "<abiprobe-source>")


def outer(x):
    return abiprobe.call(inner, x)


g = outer(21)
check("compiled code's result", g["result"], 42)
for _ in range(50):              # warm up: specialization, inlined calls
    g["probe_fn"](1)
    abiprobe.call(g["probe_fn"], 2)
check("probe_fn via call()", abiprobe.call(g["probe_fn"], 5), 10)

code, raised = abiprobe.empty_code("abiprobe_empty.c", "abiprobe_empty", 7)
check("PyCode_NewEmpty code raised AssertionError", raised, True)
check("PyCode_NewEmpty co_name", code.co_name, "abiprobe_empty")
check("PyCode_NewEmpty co_filename", code.co_filename, "abiprobe_empty.c")
check("PyCode_NewEmpty co_firstlineno", code.co_firstlineno, 7)


def fresh(a, b=1):             # never run: its code is not specialized
    return a + b


for fn in (inner, outer, g["probe_fn"], fresh):
    c = fn.__code__
    got = abiprobe.code_fields(c)
    want = {"co_qualname": c.co_qualname, "co_name": c.co_name,
            "co_filename": c.co_filename, "co_firstlineno": c.co_firstlineno,
            "co_argcount": c.co_argcount, "co_flags": c.co_flags,
            "co_stacksize": c.co_stacksize, "co_nlocals": c.co_nlocals,
            "co_consts": c.co_consts, "adaptive_len_ok": True}
    equal = got.pop("adaptive_equals_code")
    check("code_fields(%s)" % c.co_qualname, got, want)
    if fn is fresh:
        # Never run, so not quickened: co_code_adaptive, read at the
        # pristine offset, is exactly the bytecode.
        check("co_code_adaptive of never-run code == co_code", equal, True)
    if fn is g["probe_fn"]:
        # Ran 100+ times: quickened in place, as in pristine 3.11.
        check("co_code_adaptive of hot code is quickened", equal, False)
got = abiprobe.code_fields(code)
check("code_fields(PyCode_NewEmpty)",
      (got["co_qualname"], got["co_firstlineno"], got["adaptive_len_ok"],
       got["adaptive_equals_code"]),
      ("abiprobe_empty", 7, True, True))

if perf:
    sys.deactivate_stack_trampoline()       # writes out the map
    path = "/tmp/perf-%d.map" % os.getpid()
    with open(path) as f:
        names = {line.split(" ", 2)[2].rstrip("\n") for line in f}
    os.unlink(path)
    here = os.path.abspath(__file__)
    for name in ("py::inner:" + here, "py::outer:" + here,
                 "py::probe_fn:<abiprobe-source>",
                 "py::<module>:<abiprobe-source>",
                 "py::abiprobe_empty:abiprobe_empty.c"):
        check("map line %s" % name, name in names, True)

with open(sys.argv[1], "w") as f:
    json.dump(abiprobe.layout(), f, indent=1, sort_keys=True)

if failures:
    print("abiprobe (%s): %d mismatch(es):" % (abiprobe.__file__, len(failures)))
    for line in failures:
        print("  " + line)
    sys.exit(1)
print("abiprobe (%s): runtime fields, PyConfig guard, calls and code objects OK%s"
      % (abiprobe.__file__, ", perf map lines present" if perf else ""))
