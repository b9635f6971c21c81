"""Check the jitdump files an emulated aarch64 run left, on the host.

    python3 check_dumps.py [--stub STUB.bin] [--remove] LIST

LIST has one JSON object per line, written by feature_checks.py:
{"path": ..., "pid": N, "names": [...], "require_close": bool}.  Each file
is checked with tools/jitdump_check.py (header, records, the .eh_frame and
.eh_frame_hdr decoded and the CFA rules compared with the aarch64 stub's),
and on top of that: elf_mach is 183 (EM_AARCH64), the expected functions
have a CODE_LOAD, and with --stub (the raw bytes of the stub, extracted
from the cross-built asm_trampoline.o) every CODE_LOAD's code starts with
those bytes.  --remove deletes the files afterwards.  Prints the decoded
CFI of the first FDE once.  Exit status 0 when everything is valid.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import jitdump_check  # noqa: E402

EM_AARCH64 = 183


def check_one(spec, stub, show_cfi):
    path = spec["path"]
    dump = jitdump_check.parse(path)
    cfi = []
    errors = jitdump_check.check(dump, require_close=spec["require_close"],
                                 pid=spec["pid"], cfi_out=cfi)
    h = dump.header or {}
    if h.get("elf_mach") != EM_AARCH64:
        errors.append("elf_mach %r, expected %d (EM_AARCH64)"
                      % (h.get("elf_mach"), EM_AARCH64))
    loads = [r for r in dump.records
             if r["id"] == jitdump_check.CODE_LOAD and "error" not in r]
    syms = {r["sym"] for r in loads}
    for name in spec["names"]:
        if name not in syms:
            errors.append("no CODE_LOAD for %s" % name)
    if stub is not None:
        for r in loads:
            if not r["code"].startswith(stub):
                errors.append("CODE_LOAD %s: code %s does not start with "
                              "the stub %s" % (r["sym"], r["code"].hex(),
                                               stub.hex()))
                break
    unwind = sum(1 for r in dump.records
                 if r["id"] == jitdump_check.CODE_UNWINDING_INFO)
    closed = any(r["id"] == jitdump_check.CODE_CLOSE for r in dump.records)
    print("check_dumps: %s: elf_mach %s, %d CODE_LOAD, %d "
          "CODE_UNWINDING_INFO, %s: %s"
          % (path, h.get("elf_mach"), len(loads), unwind,
             "closed" if closed else "not closed",
             "ok" if not errors else "INVALID"))
    for err in errors:
        print("check_dumps:   ERROR: %s" % err)
    if show_cfi and cfi and not errors:
        sym, fde, cie, rows = cfi[0]
        print("check_dumps:   CFI of %s: code_align %d, data_align %d, "
              "ra column %d, FDE covers +0..+%d"
              % (sym, cie["code_align"], cie["data_align"], cie["ra"],
                 fde["pc_range"]))
        for off, rule in rows:
            print("check_dumps:     +%-3d %s" % (off, rule))
    return not errors and bool(cfi)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stub")
    ap.add_argument("--remove", action="store_true")
    ap.add_argument("list")
    args = ap.parse_args()
    stub = None
    if args.stub:
        with open(args.stub, "rb") as f:
            stub = f.read()
    with open(args.list) as f:
        specs = [json.loads(line) for line in f if line.strip()]
    if not specs:
        print("check_dumps: no jitdump files listed")
        return 1
    ok = True
    shown = False
    for spec in specs:
        if not os.path.exists(spec["path"]):
            print("check_dumps: %s: missing" % spec["path"])
            ok = False
            continue
        good = check_one(spec, stub, not shown)
        shown = shown or good
        ok = ok and good
    if args.remove:
        for spec in specs:
            try:
                os.unlink(spec["path"])
            except FileNotFoundError:
                pass
    print("check_dumps: %d file(s): %s" % (len(specs),
                                           "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
