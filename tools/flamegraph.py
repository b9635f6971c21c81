#!/usr/bin/env python3
"""Turn `perf script` output into a self-contained interactive flame graph.

    perf record -F 999 -g -o perf.data -- build/python -X perf app.py
    perf script -i perf.data | tools/flamegraph.py --fold-internal \\
        --title 'build/python -X perf app.py' -o flamegraph.html

The output is one HTML file (no external scripts, styles or fonts) holding
the call tree and a small script that draws it as SVG:

* Python frames (`py::NAME:FILE`, from the perf map or from
  `perf inject --jit`) are drawn in blue, native frames in red-yellow,
  kernel frames in green and unresolved addresses in grey;
* click a frame to zoom into it (its ancestors stay visible, dimmed; click
  one of them, or the root, or press Escape to zoom out);
* type in the search box (a substring, or /regular expression/) to
  highlight matching frames and see the share of samples they cover;
* hover a frame for its full name, sample count and percentages.

With --fold-internal, interpreter-internal frames (the evaluator, the
vectorcall and call plumbing, unnamed trampoline frames) are removed from
every stack, so that the Python call tree reads `py::<module>` ->
`py::baz` -> `py::bar` -> `py::foo`; samples are not lost, the time is
charged to the nearest frame that stays.  --folded writes the (folded)
stacks as text, one `frame;frame;...;leaf COUNT` line per distinct stack,
instead of HTML.

Only the Python standard library is used.
"""

import argparse
import collections
import fnmatch
import html
import json
import re
import sys

# Interpreter-internal frames removed by --fold-internal (fnmatch patterns,
# matched against the symbol without its +0x offset).
INTERNAL_PATTERNS = (
    "_PyEval_*",                 # _PyEval_EvalFrameDefault, _PyEval_Vector
    "*Vectorcall*",              # PyObject_Vectorcall, _PyObject_VectorcallTstate
    "*vectorcall*",              # method_vectorcall_O, vectorcall_method, ...
    "_PyFunction_*",             # _PyFunction_Vectorcall
    "method_vectorcall*",
    "slot_tp_call",
    "cfunction_*",               # cfunction_call, cfunction_vectorcall_*
    "PyObject_Call*",            # PyObject_Call, PyObject_CallOneArg, ...
    "_PyObject_Call*",           # _PyObject_Call, _PyObject_Call_Prepend
    "_PyObject_FastCall*",
    "_PyObject_MakeTpCall",
    "object_vacall",             # PyObject_CallMethodObjArgs and friends
    "_PyPerf_*",                 # the perf support's trampoline dispatch
    "_PyEvalFrame*",             # _PyEvalFramePushAndInit: call set-up
)

# What a frame is, for colouring: the first matching rule wins.
KIND_PYTHON, KIND_NATIVE, KIND_KERNEL, KIND_UNKNOWN = "py", "c", "k", "u"
ROOT_NAME = "all"

_HEADER_RE = re.compile(
    r"^(?P<comm>.*?)\s+(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?\s+"
    r"(?:\[\d+\]\s+)?(?:(?P<time>\d+\.\d+):\s+)?"
    r"(?:(?P<period>\d+)\s+)?(?P<event>[\w:.\-/]+?):\s*(?P<rest>.*)$")
_FRAME_RE = re.compile(r"^(?P<addr>[0-9a-fA-F]+)\s+(?P<rest>.*)$")
_OFFSET_RE = re.compile(r"\+0x[0-9a-fA-F]+$")


class Frame:
    __slots__ = ("name", "dso")

    def __init__(self, name, dso):
        self.name = name
        self.dso = dso


class Sample:
    __slots__ = ("comm", "pid", "tid", "period", "event", "frames")

    def __init__(self, comm, pid, tid, period, event):
        self.comm = comm
        self.pid = pid
        self.tid = tid
        self.period = period
        self.event = event
        self.frames = []            # innermost first, as perf prints them


def parse_frame(text):
    """'ADDR SYMBOL+0xOFF (DSO)' -> Frame, or None if it is not a frame."""
    m = _FRAME_RE.match(text.strip())
    if not m:
        return None
    rest = m.group("rest").strip()
    dso = ""
    # The DSO is the last parenthesised group; symbols themselves may
    # contain spaces and parentheses (C++ signatures, Python file names).
    if rest.endswith(")"):
        depth = 0
        for i in range(len(rest) - 1, -1, -1):
            if rest[i] == ")":
                depth += 1
            elif rest[i] == "(":
                depth -= 1
                if depth == 0:
                    if i == 0 or rest[i - 1] == " ":
                        dso = rest[i + 1:-1]
                        rest = rest[:i].rstrip()
                    break
    name = _OFFSET_RE.sub("", rest) or "[unknown]"
    return Frame(name, dso)


def parse_perf_script(lines):
    """Yield Samples from `perf script` text; also return header comments.

    Returns (samples, cmdline) where cmdline is the recorded command line
    if `perf script --header` output was given, else None.
    """
    samples = []
    cmdline = None
    current = None
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            current = None
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*cmdline\s*:\s*(.*)$", line)
            if m and cmdline is None:
                cmdline = m.group(1).strip()
            continue
        if line[0] in " \t":
            if current is not None:
                frame = parse_frame(line)
                if frame is not None:
                    current.frames.append(frame)
            continue
        m = _HEADER_RE.match(line)
        if not m:
            current = None
            continue
        period = int(m.group("period")) if m.group("period") else 1
        current = Sample(m.group("comm").strip(), int(m.group("pid")),
                         int(m.group("tid") or m.group("pid")), period,
                         m.group("event"))
        samples.append(current)
        # Without -g, perf script prints the sampled ip on the header line.
        rest = m.group("rest").strip()
        if rest:
            frame = parse_frame(rest)
            if frame is not None:
                current.frames.append(frame)
    return samples, cmdline


def frame_kind(frame):
    if frame.name.startswith("py::"):
        return KIND_PYTHON
    if frame.dso == "[kernel.kallsyms]" or frame.dso.startswith("[kernel"):
        return KIND_KERNEL
    if frame.name.startswith("[unknown]"):
        return KIND_UNKNOWN
    return KIND_NATIVE


def is_unnamed_trampoline(frame):
    """A frame in JIT/trampoline memory that no map entry names."""
    if not frame.name.startswith("[unknown]"):
        return False
    dso = frame.dso
    return (dso.startswith("/tmp/perf-") and dso.endswith(".map")
            or dso in ("//anon", "[anon]", "anon_inode:[perf_event]")
            or dso.startswith("jitted-") or "/jitted-" in dso)


def make_folder(patterns):
    compiled = [re.compile(fnmatch.translate(p)) for p in patterns]

    def is_internal(frame):
        if is_unnamed_trampoline(frame):
            return True
        if frame.name.startswith("py::"):
            return False
        return any(rx.match(frame.name) for rx in compiled)
    return is_internal


def fold_stacks(samples, fold=None, use_period=False, per_process=False):
    """Count identical stacks.

    Returns (Counter mapping a tuple of (name, kind) from outermost to
    innermost to its weight, number of frames removed by *fold*).
    """
    stacks = collections.Counter()
    removed = 0
    for sample in samples:
        frames = []
        for frame in reversed(sample.frames):
            if fold is not None and fold(frame):
                removed += 1
                continue
            frames.append((frame.name, frame_kind(frame)))
        if per_process:
            frames.insert(0, ("%s [%d]" % (sample.comm, sample.pid),
                              KIND_UNKNOWN))
        if not frames:
            frames.append(("[no stack]", KIND_UNKNOWN))
        stacks[tuple(frames)] += sample.period if use_period else 1
    return stacks, removed


def build_tree(stacks):
    """Counter of stacks -> nested [name, kind, value, children] lists,
    children sorted by name, so the output is deterministic."""
    root = {"name": ROOT_NAME, "kind": KIND_UNKNOWN, "value": 0,
            "children": {}}
    for stack, count in stacks.items():
        node = root
        node["value"] += count
        for name, kind in stack:
            child = node["children"].get((name, kind))
            if child is None:
                child = {"name": name, "kind": kind, "value": 0,
                         "children": {}}
                node["children"][(name, kind)] = child
            child["value"] += count
            node = child

    def convert(node):
        kids = sorted(node["children"].values(),
                      key=lambda n: (n["name"], n["kind"]))
        return [node["name"], node["kind"], node["value"],
                [convert(k) for k in kids]]
    return convert(root)


def encode_tree(tree):
    """Share repeated names: ([names], [kinds], nested [id, value, kids])."""
    names = []
    kinds = []
    index = {}

    def enc(node):
        name, kind, value, kids = node
        key = (name, kind)
        if key not in index:
            index[key] = len(names)
            names.append(name)
            kinds.append(kind)
        out = [index[key], value]
        if kids:
            out.append([enc(k) for k in kids])
        return out
    return names, kinds, enc(tree)


def write_folded(stacks, out):
    lines = sorted(";".join(name for name, _ in stack) + " %d" % count
                   for stack, count in stacks.items())
    for line in lines:
        out.write(line + "\n")


def render_html(tree, title, subtitle, unit, notes):
    names, kinds, encoded = encode_tree(tree)
    data = {
        "names": names,
        "kinds": kinds,
        "tree": encoded,
        "unit": unit,
    }
    # Keep the JSON from ending the <script> element early.
    payload = (json.dumps(data, separators=(",", ":"))
               .replace("</", "<\\/").replace("<!--", "<\\!--"))
    page = _PAGE
    for key, value in (
            ("@TITLE@", html.escape(title)),
            ("@SUBTITLE@", html.escape(subtitle)),
            ("@NOTES@", html.escape(notes)),
            ("@DATA@", payload)):
        page = page.replace(key, value)
    return page


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>@TITLE@</title>
<style>
  body { margin: 0; padding: 10px 14px; font: 13px sans-serif;
         background: #f8f8f4; color: #222; }
  h1 { font-size: 18px; margin: 0 0 2px 0; }
  #subtitle { color: #555; margin-bottom: 6px; font-family: monospace; }
  #bar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap;
         margin-bottom: 6px; }
  #bar input { width: 260px; padding: 3px 5px; font: 13px monospace; }
  #bar button { font: 13px sans-serif; padding: 2px 8px; }
  #matched { font-weight: bold; color: #a000a0; min-width: 12em; }
  .legend span.sw { display: inline-block; width: 12px; height: 12px;
                    vertical-align: -2px; margin: 0 4px 0 8px;
                    border: 1px solid #0003; }
  #notes { color: #666; }
  #chart { width: 100%; }
  svg { display: block; width: 100%; }
  svg text { font: 12px monospace; pointer-events: none; fill: #000; }
  svg g.f rect { stroke: #f8f8f4; stroke-width: 0.5; cursor: pointer; }
  svg g.f:hover rect { stroke: #000; stroke-width: 1; }
  svg g.dim rect { opacity: 0.45; }
  #details { font-family: monospace; min-height: 1.4em; white-space: pre;
             overflow: hidden; text-overflow: ellipsis; margin-top: 4px; }
</style>
</head>
<body>
<h1 id="title">@TITLE@</h1>
<div id="subtitle">@SUBTITLE@</div>
<div id="bar">
  <label>Search <input id="search" type="search"
    placeholder="substring or /regex/  (Ctrl-F)"></label>
  <span id="matched"></span>
  <button id="reset" type="button">Reset zoom</button>
  <span class="legend"
    ><span class="sw" style="background:hsl(205,62%,64%)"></span>Python (py::)<span
      class="sw" style="background:hsl(28,80%,60%)"></span>native<span
      class="sw" style="background:hsl(95,38%,55%)"></span>kernel<span
      class="sw" style="background:hsl(0,0%,72%)"></span>unknown<span
      class="sw" style="background:rgb(230,0,230)"></span>search match</span>
  <span id="notes">@NOTES@</span>
</div>
<div id="chart"><svg id="svg" xmlns="http://www.w3.org/2000/svg"></svg></div>
<div id="details">Hover a frame for details; click to zoom.</div>
<script>
"use strict";
const DATA = @DATA@;
const ROW = 17, FONT_W = 7.2, PAD = 4;
const svg = document.getElementById("svg");
const details = document.getElementById("details");
const matchedEl = document.getElementById("matched");
const searchEl = document.getElementById("search");
const SVGNS = "http://www.w3.org/2000/svg";

// Rebuild the tree with parent links.
function build(enc, parent, depth) {
  const node = {name: DATA.names[enc[0]], kind: DATA.kinds[enc[0]],
                value: enc[1], parent: parent, depth: depth, kids: []};
  for (const k of (enc[2] || [])) node.kids.push(build(k, node, depth + 1));
  return node;
}
const root = build(DATA.tree, null, 0);
(function setHeight(node) {       // levels below the node
  node.height = 0;
  for (const k of node.kids) node.height = Math.max(node.height, 1 + setHeight(k));
  return node.height;
})(root);
const total = root.value || 1;
let zoomed = root;
let matcher = null;

function hash(s) {            // deterministic colour variation per name
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}
function colour(node) {
  if (matcher && node.match) return "rgb(230,0,230)";
  const h = hash(node.name), a = (h & 0xff) / 255, b = ((h >> 8) & 0xff) / 255;
  switch (node.kind) {
    case "py": return `hsl(${190 + 30 * a},${55 + 15 * b}%,${60 + 10 * a}%)`;
    case "c":  return `hsl(${5 + 45 * a},${75 + 10 * b}%,${56 + 8 * b}%)`;
    case "k":  return `hsl(${80 + 30 * a},${32 + 12 * b}%,${52 + 8 * b}%)`;
    default:   return `hsl(0,0%,${66 + 10 * a}%)`;
  }
}
function pct(v) { return (100 * v / total).toFixed(2) + "%"; }
function plural(v) { return v + " " + DATA.unit; }
function describe(node) {
  const kind = {py: "Python", c: "native", k: "kernel", u: "other"}[node.kind];
  let s = `${node.name}  [${kind}]  ${plural(node.value)}, ${pct(node.value)} of all`;
  if (node.parent)
    s += `, ${(100 * node.value / node.parent.value).toFixed(1)}% of caller`;
  return s;
}

function render() {
  const width = Math.max(200, document.getElementById("chart").clientWidth);
  // Tall enough for the zoomed frame's deepest descendant.
  const height = (zoomed.depth + zoomed.height + 1) * ROW + PAD;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", height);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const scale = width / zoomed.value;
  const frag = document.createDocumentFragment();
  function draw(node, x, w, dim) {
    const y = height - PAD - (node.depth + 1) * ROW;
    const g = document.createElementNS(SVGNS, "g");
    g.setAttribute("class", dim ? "f dim" : "f");
    const t = document.createElementNS(SVGNS, "title");
    t.textContent = describe(node);
    g.appendChild(t);
    const r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("x", x.toFixed(2));
    r.setAttribute("y", y);
    r.setAttribute("width", Math.max(0, w - 0.5).toFixed(2));
    r.setAttribute("height", ROW - 1);
    r.setAttribute("rx", 2);
    r.setAttribute("fill", colour(node));
    g.appendChild(r);
    const chars = Math.floor((w - 6) / FONT_W);
    if (chars >= 4) {
      const txt = document.createElementNS(SVGNS, "text");
      txt.setAttribute("x", (x + 3).toFixed(2));
      txt.setAttribute("y", y + ROW - 5);
      txt.textContent = node.name.length <= chars ? node.name
                        : node.name.slice(0, chars - 2) + "..";
      g.appendChild(txt);
    }
    g.addEventListener("click", () => { zoom(node); });
    g.addEventListener("mouseover", () => { details.textContent = describe(node); });
    frag.appendChild(g);
  }
  // Ancestors of the zoomed frame: full width, dimmed.
  for (let a = zoomed.parent; a; a = a.parent) draw(a, 0, width, true);
  (function walk(node, x) {
    const w = node.value * scale;
    if (w < 0.3) return;
    draw(node, x, w, false);
    let cx = x;
    for (const k of node.kids) { walk(k, cx); cx += k.value * scale; }
  })(zoomed, 0);
  svg.appendChild(frag);
}

function zoom(node) {
  zoomed = node;
  render();
}

function search(query) {
  matcher = null;
  if (query) {
    try {
      const m = /^\/(.*)\/([a-z]*)$/.exec(query);
      matcher = m ? new RegExp(m[1], m[2])
                  : new RegExp(query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "i");
    } catch (e) {
      matchedEl.textContent = "invalid regular expression";
      return;
    }
  }
  let matched = 0;
  (function mark(node, inMatch) {
    node.match = !!matcher && matcher.test(node.name);
    // Count each sample once: a match inside a match adds nothing.
    if (node.match && !inMatch) matched += node.value;
    for (const k of node.kids) mark(k, inMatch || node.match);
  })(root, false);
  matchedEl.textContent = matcher
      ? `Matched: ${pct(matched)} (${plural(matched)} of ${plural(root.value)})`
      : "";
  render();
}

searchEl.addEventListener("input", () => search(searchEl.value));
document.getElementById("reset").addEventListener("click", () => zoom(root));
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "f") {
    e.preventDefault();
    searchEl.focus();
  } else if (e.key === "Escape") {
    searchEl.value = "";
    search("");
    zoom(root);
  }
});
window.addEventListener("resize", render);
// The URL fragment can carry a search and a zoom, applied on load:
// #q=TEXT searches, #zoom=TEXT zooms into the first (outermost, then
// leftmost) frame whose name contains TEXT; e.g. flamegraph.html#zoom=py::main
function fragment(key) {
  const m = new RegExp("[#&]" + key + "=([^&]*)").exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}
const zq = fragment("zoom");
if (zq) {
  const queue = [root];
  while (queue.length) {
    const node = queue.shift();
    if (node.name.includes(zq)) { zoomed = node; break; }
    queue.push(...node.kids);
  }
}
const sq = fragment("q");
if (sq) { searchEl.value = sq; search(sq); } else render();
</script>
</body>
</html>
"""


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Turn `perf script` output into an interactive HTML "
                    "flame graph (or folded stacks).")
    ap.add_argument("input", nargs="?", default="-",
                    help="perf script output (default: standard input)")
    ap.add_argument("-o", "--output", default="-",
                    help="output file (default: standard output)")
    ap.add_argument("--title", help="title, e.g. the command profiled "
                    "(default: the recorded command line, if the input "
                    "has perf script --header lines)")
    ap.add_argument("--fold-internal", action="store_true",
                    help="remove interpreter-internal frames (" +
                    ", ".join(INTERNAL_PATTERNS) +
                    ", unnamed trampoline frames)")
    ap.add_argument("--fold", action="append", default=[], metavar="GLOB",
                    help="also remove frames whose symbol matches GLOB "
                    "(repeatable)")
    ap.add_argument("--folded", action="store_true",
                    help="write folded stacks ('a;b;c COUNT') instead of HTML")
    ap.add_argument("--period", action="store_true",
                    help="weight samples by their period instead of 1")
    ap.add_argument("--pid", type=int, action="append", default=[],
                    help="only samples of this process (repeatable)")
    ap.add_argument("--comm", action="append", default=[],
                    help="only samples of this command name (repeatable)")
    ap.add_argument("--per-process", action="store_true",
                    help="one root frame per process ('comm [pid]')")
    args = ap.parse_args(argv)
    # The tree is built recursively; perf stacks are at most
    # kernel.perf_event_max_stack (127 by default) frames deep.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

    if args.input == "-":
        samples, cmdline = parse_perf_script(sys.stdin)
        source = "standard input"
    else:
        with open(args.input, encoding="utf-8", errors="replace") as f:
            samples, cmdline = parse_perf_script(f)
        source = args.input
    if args.pid:
        samples = [s for s in samples if s.pid in args.pid]
    if args.comm:
        samples = [s for s in samples if s.comm in args.comm]
    if not samples:
        ap.exit(1, "flamegraph.py: no samples in %s (is it `perf script` "
                   "output?)\n" % source)

    patterns = list(INTERNAL_PATTERNS) if args.fold_internal else []
    patterns += args.fold
    fold = make_folder(patterns) if patterns else None
    stacks, removed = fold_stacks(samples, fold, args.period,
                                  args.per_process)

    if args.folded:
        text = _Collect()
        write_folded(stacks, text)
        result = text.value()
    else:
        if args.title:
            title = args.title
        elif cmdline:
            title = cmdline.split(" -- ", 1)[-1]
        else:
            title = "Flame graph"
        unit = "samples" if not args.period else "period units"
        nsamples = len(samples)
        events = sorted({s.event for s in samples})
        subtitle = "%d samples of %s" % (nsamples, ", ".join(events))
        if cmdline:
            subtitle += "  |  " + cmdline
        notes = ""
        if fold is not None:
            notes = ("interpreter-internal frames folded (%d frames removed)"
                     % removed)
        result = render_html(build_tree(stacks), title, subtitle, unit, notes)

    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(result)
    return 0


class _Collect:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)

    def value(self):
        return "".join(self.parts)


if __name__ == "__main__":
    sys.exit(main())
