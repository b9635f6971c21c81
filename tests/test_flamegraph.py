"""Checks of tools/flamegraph.py on recorded `perf script` text.

The recordings in tests/data/ were made with build/python on this project's
programs:

  perf_demo.perf-script.txt    examples/perf_demo.py (baz -> bar -> foo)
  flame_calls.perf-script.txt  tests/data/flame_calls.py (calls through map(),
                               sorted(key=), __call__, bound methods and a
                               generator)

both `perf record -F 999 -g -e cpu-clock -- build/python -X perf PROG` then
`perf script --header`.  Expected counts are computed here from the raw text
with a deliberately simple reader of our own, independent of the tool's
parser, and a few are pinned to the recorded numbers.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

REPO = os.environ.get("REPO") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "flamegraph.py")
DATA = os.path.join(REPO, "tests", "data")
DEMO = os.path.join(DATA, "perf_demo.perf-script.txt")
CALLS = os.path.join(DATA, "flame_calls.perf-script.txt")

spec = importlib.util.spec_from_file_location("flamegraph", TOOL)
fg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fg)


def raw_samples(path):
    """List of samples, each a list of symbol names, outermost first."""
    samples = []
    cur = None
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            if not line.strip():
                cur = None
            elif line[0] not in " \t":
                cur = []
                samples.append(cur)
            else:
                # "\t    ADDR SYMBOL+0xOFF (DSO)"
                sym = line.split(None, 1)[1].rsplit(" (", 1)[0]
                cur.insert(0, re.sub(r"\+0x[0-9a-f]+$", "", sym))
    return samples


def run_tool(*args, stdin=None):
    proc = subprocess.run([sys.executable, TOOL, *args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError("flamegraph.py %s failed:\n%s"
                             % (" ".join(args), proc.stderr))
    return proc.stdout


def folded(*args, path=DEMO):
    """{stack tuple: count} from the tool's --folded output."""
    out = {}
    for line in run_tool("--folded", *args, path).splitlines():
        stack, count = line.rsplit(" ", 1)
        out[tuple(stack.split(";"))] = int(count)
    return out


def html_data(page):
    m = re.search(r"const DATA = (.*?);\n", page)
    return json.loads(m.group(1).replace("<\\/", "</"))


def is_internal(name):
    return any(re.fullmatch(p.replace("*", ".*"), name)
               for p in fg.INTERNAL_PATTERNS)


DEMO_FILE = "/work/main/examples/perf_demo.py"
CHAIN = ["py::<module>:" + DEMO_FILE, "py::baz:" + DEMO_FILE,
         "py::bar:" + DEMO_FILE, "py::foo:" + DEMO_FILE]


class RecordedDemo(unittest.TestCase):
    def setUp(self):
        self.raw = raw_samples(DEMO)

    def test_sample_count(self):
        # As recorded: perf reported 47 samples.
        self.assertEqual(len(self.raw), 47)
        for args in ((), ("--fold-internal",)):
            stacks = folded(*args)
            self.assertEqual(sum(stacks.values()), 47, args)

    def test_unfolded_keeps_the_evaluator_between_python_frames(self):
        stacks = folded()
        with_foo = {s: c for s, c in stacks.items() if CHAIN[-1] in s}
        self.assertTrue(with_foo)
        for s in with_foo:
            i = s.index(CHAIN[0])
            self.assertEqual(
                list(s[i:i + 7]),
                [CHAIN[0], "_PyEval_EvalFrameDefault", CHAIN[1],
                 "_PyEval_EvalFrameDefault", CHAIN[2],
                 "_PyEval_EvalFrameDefault", CHAIN[3]])

    def test_folding_gives_the_python_chain(self):
        stacks = folded("--fold-internal")
        expected_foo = sum(1 for s in self.raw if CHAIN[-1] in s)
        self.assertGreater(expected_foo, 30)   # foo is the hot spot
        got_foo = 0
        for s, c in stacks.items():
            for name in s:
                self.assertFalse(is_internal(name), (name, s))
            if CHAIN[-1] in s:
                got_foo += c
                i = s.index(CHAIN[0])
                self.assertEqual(list(s[i:i + 4]), CHAIN)
                # The interpreter's entry point stays, just below <module>.
                self.assertEqual(s[i - 1], "PyEval_EvalCode")
        self.assertEqual(got_foo, expected_foo)
        # foo's self time includes the evaluator's, now folded into it.
        leaf_foo = sum(c for s, c in stacks.items() if s[-1] == CHAIN[-1])
        raw_eval_leaf = sum(1 for s in self.raw if s[-2:] == [
            CHAIN[-1], "_PyEval_EvalFrameDefault"])
        self.assertEqual(leaf_foo, raw_eval_leaf)
        self.assertGreater(leaf_foo, 0)

    def test_html(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "fg.html")
            run_tool("--fold-internal", "--title", "demo <&> run", "-o", out,
                     DEMO)
            with open(out) as f:
                page = f.read()
        self.assertIn("<title>demo &lt;&amp;&gt; run</title>", page)
        # Self-contained: no external script, style, font or image.
        self.assertNotRegex(page, r"<script[^>]+src=|<link|@import|url\(")
        data = html_data(page)
        names, kinds = data["names"], data["kinds"]

        def walk(node, depth=0):
            name_id, value = node[0], node[1]
            kids = node[2] if len(node) > 2 else []
            yield names[name_id], kinds[name_id], value, depth
            self.assertGreaterEqual(value, sum(k[1] for k in kids))
            for k in kids:
                yield from walk(k, depth + 1)
        nodes = list(walk(data["tree"]))
        self.assertEqual(nodes[0][:3], ("all", "u", 47))
        by_name = {}
        for name, kind, value, depth in nodes:
            by_name.setdefault(name, []).append((kind, value))
        self.assertEqual(by_name[CHAIN[-1]][0][0], "py")
        self.assertEqual(sum(v for k, v in by_name[CHAIN[-1]]),
                         sum(1 for s in self.raw if CHAIN[-1] in s))
        self.assertEqual(by_name["Py_BytesMain"][0][0], "c")
        self.assertTrue(any(k == "k" for n, k, v, d in nodes))
        # The interactive parts are there.
        for needle in ('id="search"', "Matched: ", "function zoom(",
                       "Reset zoom", "interpreter-internal frames folded"):
            self.assertIn(needle, page)

    def test_title_defaults_to_the_recorded_command(self):
        page = run_tool(DEMO)
        self.assertIn("<title>/work/main/build/python -X perf "
                      "/work/main/examples/perf_demo.py</title>", page)

    def test_stdin(self):
        with open(DEMO) as f:
            text = f.read()
        self.assertEqual(run_tool("--folded", "--fold-internal", "-",
                                  stdin=text),
                         run_tool("--folded", "--fold-internal", DEMO))


class RecordedCalls(unittest.TestCase):
    """C call plumbing between Python frames disappears when folded."""

    FILE = "/work/main/tests/data/flame_calls.py"

    def py(self, name):
        return "py::%s:%s" % (name, self.FILE)

    def setUp(self):
        self.raw = raw_samples(CALLS)
        self.stacks = folded("--fold-internal", path=CALLS)

    def count(self, stacks, name):
        return sum(c for s, c in stacks.items() if name in s)

    def test_counts_preserved(self):
        self.assertEqual(len(self.raw), 164)
        self.assertEqual(sum(self.stacks.values()), 164)
        unfolded = folded(path=CALLS)
        for fn in ("Scale.__call__", "key", "gen", "Scale.apply", "work"):
            name = self.py(fn)
            expected = sum(1 for s in self.raw if name in s)
            self.assertGreater(expected, 0, fn)
            self.assertEqual(self.count(self.stacks, name), expected, fn)
            self.assertEqual(self.count(unfolded, name), expected, fn)

    def test_raw_has_plumbing_folded_has_none(self):
        raw_names = {n for s in self.raw for n in s}
        for plumbing in ("slot_tp_call", "_PyObject_Call_Prepend",
                         "_PyEval_Vector", "_PyEval_EvalFrameDefault",
                         "cfunction_vectorcall_FASTCALL_KEYWORDS",
                         "PyObject_Vectorcall", "_PyObject_MakeTpCall"):
            self.assertIn(plumbing, raw_names)
        for s in self.stacks:
            for name in s:
                self.assertFalse(is_internal(name), (name, s))

    def test_python_callees_sit_under_the_c_function_that_calls_them(self):
        seen = set()
        for s in self.stacks:
            for i, name in enumerate(s):
                if name == self.py("Scale.__call__") and s[i - 1] == "map_next":
                    seen.add("map")
                if name == self.py("key") and s[i - 1] == "list_sort_impl":
                    seen.add("sorted")
                if name == self.py("gen") and s[i - 1] == "gen_iternext":
                    seen.add("generator")
                if (name == self.py("Scale.__call__")
                        and s[i - 1] == self.py(
                            "Scale.apply.<locals>.<listcomp>")):
                    seen.add("__call__ from a comprehension")
        self.assertEqual(seen, {"map", "sorted", "generator",
                                "__call__ from a comprehension"})

    def test_extra_fold_patterns(self):
        stacks = folded("--fold-internal", "--fold", "list_*",
                        "--fold", "map_next", path=CALLS)
        self.assertEqual(sum(stacks.values()), 164)
        for s in stacks:
            self.assertFalse(any(n.startswith("list_") or n == "map_next"
                                 for n in s), s)


class Parsing(unittest.TestCase):
    TEXT = """\
# cmdline : /usr/bin/perf record -g -- ./python -X perf app.py
my prog 123/124 [001] 10.000001:     250 cpu-clock:
\t    7f0000000010 py::handler:/srv/app (v2).py+0xa (/tmp/perf-123.map)
\t    55550000aaaa _PyEval_EvalFrameDefault+0x10 (/usr/bin/python3.11)
\t    7f0000000020 [unknown] (/tmp/perf-123.map)
\t    55550000bbbb std::vector<int>::push_back(int const&)+0x4 (/usr/lib/libx.so)
\t    55550000cccc main (/usr/bin/python3.11)

my prog 123/124 [001] 10.000002:     750 cpu-clock:
\t    7f0000000010 py::handler:/srv/app (v2).py+0xa (/tmp/perf-123.map)
\t    55550000cccc main (/usr/bin/python3.11)

other 9 10.000003: 100 cpu-clock:  ffffffff81000000 do_syscall_64+0x1 ([kernel.kallsyms])
"""

    def parse(self):
        samples, cmdline = fg.parse_perf_script(self.TEXT.splitlines(True))
        return samples, cmdline

    def test_headers_and_frames(self):
        samples, cmdline = self.parse()
        self.assertEqual(cmdline,
                         "/usr/bin/perf record -g -- ./python -X perf app.py")
        self.assertEqual([(s.comm, s.pid, s.tid, s.period) for s in samples],
                         [("my prog", 123, 124, 250),
                          ("my prog", 123, 124, 750), ("other", 9, 9, 100)])
        names = [f.name for f in samples[0].frames]
        self.assertEqual(names, [
            "py::handler:/srv/app (v2).py", "_PyEval_EvalFrameDefault",
            "[unknown]", "std::vector<int>::push_back(int const&)", "main"])
        self.assertEqual(samples[0].frames[0].dso, "/tmp/perf-123.map")
        self.assertEqual([fg.frame_kind(f) for f in samples[0].frames],
                         ["py", "c", "u", "c", "c"])
        # Without -g the ip is on the header line.
        self.assertEqual([(f.name, fg.frame_kind(f))
                          for f in samples[2].frames],
                         [("do_syscall_64", "k")])

    def test_fold_removes_unnamed_trampolines(self):
        samples, _ = self.parse()
        stacks, removed = fg.fold_stacks(
            samples, fg.make_folder(fg.INTERNAL_PATTERNS))
        self.assertEqual(removed, 2)
        names = {tuple(n for n, k in s): c for s, c in stacks.items()}
        self.assertEqual(names[("main", "std::vector<int>::push_back(int const&)",
                                "py::handler:/srv/app (v2).py")], 1)
        self.assertEqual(names[("main", "py::handler:/srv/app (v2).py")], 1)

    def test_period_and_filters(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.txt")
            with open(path, "w") as f:
                f.write(self.TEXT)
            out = run_tool("--folded", "--period", "--pid", "123", path)
            self.assertEqual(sum(int(l.rsplit(" ", 1)[1])
                                 for l in out.splitlines()), 1000)
            out = run_tool("--folded", "--comm", "other", "--per-process",
                           path)
            self.assertEqual(out, "other [9];do_syscall_64 1\n")

    def test_no_samples_is_an_error(self):
        proc = subprocess.run([sys.executable, TOOL, "-"], input="junk\n",
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no samples", proc.stderr)

    def test_script_end_tag_in_names_is_escaped(self):
        text = ("p 1 1.0: 1 cpu-clock:\n"
                "\t 10 py::</script><b>x:f.py+0x1 (/tmp/perf-1.map)\n")
        page = run_tool("-", stdin=text)
        self.assertEqual(page.count("</script>"), 1)
        data = html_data(page)
        self.assertIn("py::</script><b>x:f.py", data["names"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
