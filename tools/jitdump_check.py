#!/usr/bin/env python3
"""Parse and check a perf jitdump file (/tmp/jit-<pid>.dump).

Checks what perf 6.1's `perf inject --jit` relies on, and what CPython's
"perf_jit" backend promises on top of it:

* header: magic, version 1, total_size 40, elf_mach 62 or 183, pad1 0,
  flags 0;
* records: known id, total_size >= 16 and a multiple of 8, inside the file,
  the file ends on a record boundary (no torn record), timestamps never
  decrease and are not older than the header;
* CODE_LOAD: pid equal to the header's, code_index strictly increasing,
  NUL-terminated name followed by zero padding only, code bytes at the end
  of the record (perf reads them from total_size - code_size), code bytes
  unique per CODE_LOAD, code_addr unique, the unwinding data that perf maps
  behind the code not overlapping another CODE_LOAD's code;
* CODE_DEBUG_INFO and CODE_UNWINDING_INFO: followed by the CODE_LOAD they
  describe (same code_addr for debug info), entries inside the code;
* unwinding data: .eh_frame (CIE and FDE decoded, pointer encodings
  resolved in the layout perf gives the synthesized image: code at T,
  .eh_frame at T + round_up(code_size, 8), .eh_frame_hdr after it), the FDE
  covering exactly the expected range, the .eh_frame_hdr table pointing at
  the code and the FDE, and the CFA rules per code offset equal to the
  trampoline stub's;
* CODE_CLOSE: at most one, last (required with --require-close).

Usage:
    jitdump_check.py [options] DUMP
    --require-close     the file must end with CODE_CLOSE
    --pid PID           the header pid must be PID
    --loads N           expect exactly N CODE_LOAD records
    --fde-range N       expected FDE pc_range (default: the stub size of
                        the dump's architecture, 22 or 40)
    --no-stub-rules     do not compare the CFA rules with the stub's
    --allow-unmapped    accept mapped_size 0 (what the backend writes when
                        the trampoline slots are too small to hold the
                        unwinding data perf maps behind the code)
    --cfi               print the CFA rules per offset of each FDE
    --list              print one line per CODE_LOAD
    --json              print the parsed dump as JSON

Exit status 0 when the file is valid, 1 when it is not, 2 on usage errors.
As a module: parse(path_or_bytes) -> Dump; check(dump, ...) -> errors.
"""

import argparse
import bisect
import json
import struct
import sys

MAGIC = 0x4A695444
HEADER_SIZE = 40
PREFIX_SIZE = 16

CODE_LOAD = 0
CODE_MOVE = 1
CODE_DEBUG_INFO = 2
CODE_CLOSE = 3
CODE_UNWINDING_INFO = 4
RECORD_NAMES = {
    CODE_LOAD: "CODE_LOAD",
    CODE_MOVE: "CODE_MOVE",
    CODE_DEBUG_INFO: "CODE_DEBUG_INFO",
    CODE_CLOSE: "CODE_CLOSE",
    CODE_UNWINDING_INFO: "CODE_UNWINDING_INFO",
}

EM_X86_64 = 62
EM_AARCH64 = 183

# Where perf 6.1 puts .eh_frame behind the code in the image it builds.
EH_FRAME_ALIGN = 8

# The trampoline stub of Python/asm_trampoline.S, per architecture: its
# size, the offset its call returns to ("return"), and the CFA rule at each
# instruction boundary, as
# (offset, cfa_register, cfa_offset, {register: saved_at_cfa_offset},
#  ra_signed).  Registers are DWARF numbers.  Below its frame record the
# stub reserves 512 bytes of stack, in which the evaluator keeps frame
# records for the Python calls it runs inlined: their return addresses are
# entry + "return", so the rule at that offset (CFA = frame pointer + 16)
# must describe them as well as the stub's own call.
STUBS = {
    EM_X86_64: {
        "size": 22,
        "return": 20,
        "regs": {7: "rsp", 6: "rbp", 16: "rip"},
        "rules": [
            (0, 7, 8, {16: -8}, False),             # endbr64
            (4, 7, 8, {16: -8}, False),             # push %rbp
            (5, 7, 16, {16: -8, 6: -16}, False),    # mov %rsp,%rbp
            (8, 6, 16, {16: -8, 6: -16}, False),    # sub $512,%rsp
            (15, 6, 16, {16: -8, 6: -16}, False),   # call (rel32 or *%rcx)
            (17, 6, 16, {16: -8, 6: -16}, False),   # nopl, if *%rcx
            (20, 6, 16, {16: -8, 6: -16}, False),   # leave (return point)
            (21, 7, 8, {16: -8}, False),            # ret
        ],
    },
    EM_AARCH64: {
        "size": 40,
        "return": 24,
        "regs": {31: "sp", 29: "x29", 30: "x30"},
        "rules": [
            (0, 31, 0, {}, False),                  # bti c
            (4, 31, 0, {}, False),                  # paciasp
            (8, 31, 0, {}, True),                   # stp x29,x30,[sp,-16]!
            (12, 31, 16, {29: -16, 30: -8}, True),  # mov x29,sp
            (16, 29, 16, {29: -16, 30: -8}, True),  # sub sp,sp,#512
            (20, 29, 16, {29: -16, 30: -8}, True),  # blr x3
            (24, 29, 16, {29: -16, 30: -8}, True),  # mov sp,x29 (return point)
            (28, 29, 16, {29: -16, 30: -8}, True),  # ldp x29,x30,[sp],16
            (32, 31, 0, {}, True),                  # autiasp
            (36, 31, 0, {}, False),                 # ret
        ],
    },
}


class DumpError(Exception):
    pass


# ---- low-level readers ----

def _u8(data, off):
    if off + 1 > len(data):
        raise DumpError("read past the end at %d" % off)
    return data[off], off + 1


def _u32(data, off):
    if off + 4 > len(data):
        raise DumpError("read past the end at %d" % off)
    return struct.unpack_from("<I", data, off)[0], off + 4


def _s32(data, off):
    if off + 4 > len(data):
        raise DumpError("read past the end at %d" % off)
    return struct.unpack_from("<i", data, off)[0], off + 4


def _leb128(data, off, signed):
    result = shift = 0
    while True:
        byte, off = _u8(data, off)
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if signed and byte & 0x40:
                result -= 1 << shift
            return result, off


def _uleb(data, off):
    return _leb128(data, off, False)


def _sleb(data, off):
    return _leb128(data, off, True)


def _cstring(data, off, end):
    nul = data.find(b"\0", off, end)
    if nul < 0:
        raise DumpError("string at %d is not NUL-terminated" % off)
    return data[off:nul], nul + 1


# ---- parsing ----

class Dump:
    def __init__(self):
        self.header = {}
        self.records = []       # dicts, in file order
        self.size = 0
        self.errors = []        # structural errors found while parsing


def parse(source):
    """Parse a dump from a path or bytes.  Structural problems that stop
    parsing are recorded in dump.errors."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        with open(source, "rb") as f:
            data = f.read()
    dump = Dump()
    dump.size = len(data)
    if len(data) < HEADER_SIZE:
        dump.errors.append("file too short for a header (%d bytes)"
                           % len(data))
        return dump
    (magic, version, total_size, elf_mach, pad1, pid, timestamp,
     flags) = struct.unpack_from("<IIIIIIQQ", data, 0)
    dump.header = dict(magic=magic, version=version, total_size=total_size,
                       elf_mach=elf_mach, pad1=pad1, pid=pid,
                       timestamp=timestamp, flags=flags)
    if magic != MAGIC:
        if magic == struct.unpack("<I", struct.pack(">I", MAGIC))[0]:
            dump.errors.append("big-endian dump: not supported here")
        else:
            dump.errors.append("bad magic %#x" % magic)
        return dump
    off = total_size if total_size >= HEADER_SIZE else HEADER_SIZE
    while off < len(data):
        if len(data) - off < PREFIX_SIZE:
            dump.errors.append("torn record prefix at offset %d "
                               "(%d bytes left)" % (off, len(data) - off))
            break
        rid, rsize, ts = struct.unpack_from("<IIQ", data, off)
        if rsize < PREFIX_SIZE:
            dump.errors.append("record at %d: total_size %d < 16"
                               % (off, rsize))
            break
        if off + rsize > len(data):
            dump.errors.append("torn record at offset %d: total_size %d, "
                               "%d bytes left" % (off, rsize,
                                                  len(data) - off))
            break
        body = data[off:off + rsize]
        rec = dict(offset=off, id=rid, name=RECORD_NAMES.get(rid, "?"),
                   total_size=rsize, timestamp=ts)
        try:
            _parse_body(rec, body)
        except DumpError as exc:
            rec["error"] = str(exc)
        dump.records.append(rec)
        off += rsize
    return dump


def _parse_body(rec, body):
    rid = rec["id"]
    size = len(body)
    if rid == CODE_LOAD:
        if size < 56:
            raise DumpError("CODE_LOAD shorter than 56 bytes")
        (rec["pid"], rec["tid"], rec["vma"], rec["code_addr"],
         rec["code_size"], rec["code_index"]) = struct.unpack_from(
            "<IIQQQQ", body, 16)
        name, after = _cstring(body, 56, size)
        rec["sym"] = name.decode("utf-8", "backslashreplace")
        code_start = size - rec["code_size"]
        if code_start < after:
            raise DumpError("code (%d bytes) overlaps the name"
                            % rec["code_size"])
        rec["name_padding"] = body[after:code_start]
        rec["code"] = body[code_start:]
    elif rid == CODE_DEBUG_INFO:
        if size < 32:
            raise DumpError("CODE_DEBUG_INFO shorter than 32 bytes")
        rec["code_addr"], rec["nr_entry"] = struct.unpack_from("<QQ",
                                                               body, 16)
        off = 32
        entries = []
        for _ in range(rec["nr_entry"]):
            if off + 16 > size:
                raise DumpError("debug entry %d outside the record"
                                % len(entries))
            addr, lineno, discrim = struct.unpack_from("<QIi", body, off)
            fname, off = _cstring(body, off + 16, size)
            entries.append(dict(addr=addr, lineno=lineno, discrim=discrim,
                                filename=fname.decode("utf-8",
                                                      "backslashreplace")))
        rec["entries"] = entries
        rec["trailing"] = body[off:]
    elif rid == CODE_UNWINDING_INFO:
        if size < 40:
            raise DumpError("CODE_UNWINDING_INFO shorter than 40 bytes")
        (rec["unwinding_size"], rec["eh_frame_hdr_size"],
         rec["mapped_size"]) = struct.unpack_from("<QQQ", body, 16)
        end = 40 + rec["unwinding_size"]
        if end > size:
            raise DumpError("unwinding data (%d bytes) outside the record"
                            % rec["unwinding_size"])
        if rec["eh_frame_hdr_size"] > rec["unwinding_size"]:
            raise DumpError("eh_frame_hdr_size > unwinding_size")
        split = end - rec["eh_frame_hdr_size"]
        rec["eh_frame"] = body[40:split]
        rec["eh_frame_hdr"] = body[split:end]
        rec["trailing"] = body[end:]
    elif rid == CODE_MOVE:
        rec["body"] = body[16:]
    elif rid == CODE_CLOSE:
        rec["trailing"] = body[16:]


# ---- DWARF CFI ----

DW_EH_PE_absptr = 0x00
DW_EH_PE_udata4 = 0x03
DW_EH_PE_sdata4 = 0x0B
DW_EH_PE_pcrel = 0x10
DW_EH_PE_datarel = 0x30


def _read_encoded(data, off, enc, base_addr, data_rel_base=None):
    """Read a pointer with encoding enc at data[off]; base_addr is the
    address of data[0] in the image.  Only the 4-byte forms are used."""
    fmt = enc & 0x0F
    app = enc & 0x70
    if fmt == DW_EH_PE_udata4:
        value, new = _u32(data, off)
    elif fmt == DW_EH_PE_sdata4:
        value, new = _s32(data, off)
    else:
        raise DumpError("unsupported pointer encoding %#x" % enc)
    if app == DW_EH_PE_pcrel:
        value += base_addr + off
    elif app == DW_EH_PE_datarel:
        if data_rel_base is None:
            raise DumpError("datarel encoding without a base")
        value += data_rel_base
    elif app != DW_EH_PE_absptr:
        raise DumpError("unsupported pointer application %#x" % app)
    return value, new


def parse_eh_frame(data, base):
    """Decode .eh_frame bytes placed at image address base.  Return
    (cies, fdes) keyed by offset."""
    cies, fdes = {}, {}
    off = 0
    while off < len(data):
        length, p = _u32(data, off)
        if length == 0:
            if data[p:].strip(b"\0"):
                raise DumpError(".eh_frame has data after its terminator")
            break
        if length == 0xFFFFFFFF:
            raise DumpError("64-bit DWARF CFI is not expected")
        end = p + length
        if end > len(data):
            raise DumpError("CIE/FDE at %d runs past .eh_frame" % off)
        cie_id, p2 = _u32(data, p)
        if cie_id == 0:
            cie = dict(offset=off, length=length + 4)
            cie["version"], q = _u8(data, p2)
            aug, q = _cstring(data, q, end)
            cie["augmentation"] = aug.decode()
            cie["code_align"], q = _uleb(data, q)
            cie["data_align"], q = _sleb(data, q)
            if cie["version"] == 1:
                cie["ra"], q = _u8(data, q)
            else:
                cie["ra"], q = _uleb(data, q)
            cie["fde_enc"] = DW_EH_PE_absptr
            if aug.startswith(b"z"):
                aug_len, q = _uleb(data, q)
                aug_end = q + aug_len
                for ch in aug[1:]:
                    ch = chr(ch)
                    if ch == "R":
                        cie["fde_enc"], q = _u8(data, q)
                    else:
                        raise DumpError("unsupported augmentation %r"
                                        % cie["augmentation"])
                q = aug_end
            elif aug:
                raise DumpError("unsupported augmentation %r"
                                % cie["augmentation"])
            cie["instructions"] = data[q:end]
            cies[off] = cie
        else:
            cie_off = p - cie_id
            if cie_off not in cies:
                raise DumpError("FDE at %d points to no CIE (%d)"
                                % (off, cie_off))
            cie = cies[cie_off]
            fde = dict(offset=off, length=length + 4, cie=cie_off)
            fde["pc_begin"], q = _read_encoded(data, p2, cie["fde_enc"],
                                               base)
            # pc_range uses the same format without the application.
            fde["pc_range"], q = _read_encoded(data, q,
                                               cie["fde_enc"] & 0x0F, base)
            if cie["augmentation"].startswith("z"):
                aug_len, q = _uleb(data, q)
                q += aug_len
            fde["instructions"] = data[q:end]
            fdes[off] = fde
        off = end
    return cies, fdes


def parse_eh_frame_hdr(data, hdr_base, eh_frame_base):
    hdr = {}
    if len(data) < 4:
        raise DumpError(".eh_frame_hdr shorter than 4 bytes")
    hdr["version"], hdr["eh_frame_ptr_enc"], hdr["fde_count_enc"], \
        hdr["table_enc"] = data[0], data[1], data[2], data[3]
    if hdr["version"] != 1:
        raise DumpError(".eh_frame_hdr version %d" % hdr["version"])
    hdr["eh_frame_ptr"], off = _read_encoded(data, 4,
                                             hdr["eh_frame_ptr_enc"],
                                             hdr_base, hdr_base)
    hdr["fde_count"], off = _read_encoded(data, off, hdr["fde_count_enc"],
                                          hdr_base, hdr_base)
    table = []
    for _ in range(hdr["fde_count"]):
        loc, off = _read_encoded(data, off, hdr["table_enc"], hdr_base,
                                 hdr_base)
        fde, off = _read_encoded(data, off, hdr["table_enc"], hdr_base,
                                 hdr_base)
        table.append((loc, fde))
    hdr["table"] = table
    if off != len(data):
        raise DumpError(".eh_frame_hdr has %d bytes after its table"
                        % (len(data) - off))
    return hdr


def run_cfi(cie, fde):
    """Execute the CIE's and the FDE's call frame instructions.  Return
    the rows: (offset, cfa_reg, cfa_off, {reg: cfa_offset}, ra_signed),
    offsets relative to pc_begin."""
    ca, da = cie["code_align"], cie["data_align"]
    state = dict(loc=0, cfa_reg=None, cfa_off=0, regs={}, signed=False)
    rows = []
    initial = {}

    def snapshot():
        row = (state["loc"], state["cfa_reg"], state["cfa_off"],
               dict(state["regs"]), state["signed"])
        if rows and rows[-1][0] == state["loc"]:
            rows[-1] = row
        else:
            rows.append(row)

    def execute(instrs, in_cie):
        off = 0
        while off < len(instrs):
            op, off = _u8(instrs, off)
            high, low = op & 0xC0, op & 0x3F
            if high == 0x40:                        # advance_loc
                snapshot()
                state["loc"] += low * ca
            elif high == 0x80:                      # offset
                val, off = _uleb(instrs, off)
                state["regs"][low] = val * da
            elif high == 0xC0:                      # restore
                if low in initial:
                    state["regs"][low] = initial[low]
                else:
                    state["regs"].pop(low, None)
            elif op == 0x00:                        # nop
                pass
            elif op == 0x02:                        # advance_loc1
                val, off = _u8(instrs, off)
                snapshot()
                state["loc"] += val * ca
            elif op == 0x0C:                        # def_cfa
                state["cfa_reg"], off = _uleb(instrs, off)
                state["cfa_off"], off = _uleb(instrs, off)
            elif op == 0x0D:                        # def_cfa_register
                state["cfa_reg"], off = _uleb(instrs, off)
            elif op == 0x0E:                        # def_cfa_offset
                state["cfa_off"], off = _uleb(instrs, off)
            elif op == 0x05:                        # offset_extended
                reg, off = _uleb(instrs, off)
                val, off = _uleb(instrs, off)
                state["regs"][reg] = val * da
            elif op == 0x06:                        # restore_extended
                reg, off = _uleb(instrs, off)
                if reg in initial:
                    state["regs"][reg] = initial[reg]
                else:
                    state["regs"].pop(reg, None)
            elif op == 0x08:                        # same_value
                reg, off = _uleb(instrs, off)
                state["regs"].pop(reg, None)
            elif op == 0x2D:                        # AARCH64_negate_ra_state
                state["signed"] = not state["signed"]
            else:
                raise DumpError("unsupported CFA instruction %#x" % op)
        if in_cie:
            initial.update(state["regs"])

    execute(cie["instructions"], True)
    execute(fde["instructions"], False)
    snapshot()
    return rows


def expand_rows(rows, size):
    """The rule in force at each instruction boundary of interest:
    return a function offset -> row."""
    def at(offset):
        current = None
        for row in rows:
            if row[0] <= offset:
                current = row
        return current
    return at


def format_rule(row, regnames):
    _, reg, off, saved, signed = row
    name = regnames.get(reg, "r%d" % reg)
    parts = ["CFA=%s%+d" % (name, off)]
    for r in sorted(saved):
        parts.append("%s@CFA%+d" % (regnames.get(r, "r%d" % r), saved[r]))
    if signed:
        parts.append("ra-signed")
    return " ".join(parts)


# ---- checking ----

def check(dump, require_close=False, pid=None, loads=None, fde_range=None,
          stub_rules=True, cfi_out=None, allow_unmapped=False):
    """Return a list of error strings (empty when the dump is valid).
    With cfi_out (a list), the decoded CFA rules are appended to it."""
    errors = list(dump.errors)
    h = dump.header
    if not h:
        return errors
    if h["magic"] != MAGIC:
        return errors
    if h["version"] != 1:
        errors.append("header: version %d, expected 1" % h["version"])
    if h["total_size"] != HEADER_SIZE:
        errors.append("header: total_size %d, expected 40"
                      % h["total_size"])
    if h["elf_mach"] not in (EM_X86_64, EM_AARCH64):
        errors.append("header: elf_mach %d, expected 62 or 183"
                      % h["elf_mach"])
    if h["pad1"] != 0:
        errors.append("header: pad1 %#x, expected 0" % h["pad1"])
    if h["flags"] != 0:
        errors.append("header: flags %#x, expected 0" % h["flags"])
    if h["timestamp"] == 0:
        errors.append("header: timestamp 0")
    if pid is not None and h["pid"] != pid:
        errors.append("header: pid %d, expected %d" % (h["pid"], pid))
    stub = STUBS.get(h["elf_mach"])
    if fde_range is None and stub:
        fde_range = stub["size"]

    last_ts = h["timestamp"]
    last_index = None
    seen_code = {}
    seen_addr = {}
    load_extents = []           # (code_addr, code_size, mapped_end, index)
    pending_debug = None
    pending_unwind = None
    closes = 0
    nloads = 0
    recs = dump.records
    for i, rec in enumerate(recs):
        where = "record %d (%s at offset %d)" % (i, rec["name"],
                                                 rec["offset"])
        if "error" in rec:
            errors.append("%s: %s" % (where, rec["error"]))
            continue
        if rec["id"] not in RECORD_NAMES:
            errors.append("%s: unknown id %d" % (where, rec["id"]))
            continue
        if rec["total_size"] % 8:
            errors.append("%s: total_size %d is not a multiple of 8"
                          % (where, rec["total_size"]))
        if rec["timestamp"] < last_ts:
            errors.append("%s: timestamp %d goes back (previous %d)"
                          % (where, rec["timestamp"], last_ts))
        last_ts = max(last_ts, rec["timestamp"])
        if closes:
            errors.append("%s: record after CODE_CLOSE" % where)
        rid = rec["id"]
        if rid == CODE_CLOSE:
            closes += 1
            if rec["total_size"] != PREFIX_SIZE:
                errors.append("%s: CODE_CLOSE of %d bytes"
                              % (where, rec["total_size"]))
        elif rid == CODE_MOVE:
            errors.append("%s: CODE_MOVE is never written by CPython"
                          % where)
        elif rid == CODE_DEBUG_INFO:
            if pending_debug is not None:
                errors.append("%s: second CODE_DEBUG_INFO before a "
                              "CODE_LOAD" % where)
            pending_debug = (where, rec)
            if rec["nr_entry"] < 1:
                errors.append("%s: no entries" % where)
            if rec["trailing"].strip(b"\0") or len(rec["trailing"]) >= 8:
                errors.append("%s: %d bytes after the entries (padding "
                              "must be < 8 zero bytes)"
                              % (where, len(rec["trailing"])))
            for e in rec["entries"]:
                if not e["filename"]:
                    errors.append("%s: entry with an empty file name"
                                  % where)
        elif rid == CODE_UNWINDING_INFO:
            if pending_unwind is not None:
                errors.append("%s: second CODE_UNWINDING_INFO before a "
                              "CODE_LOAD" % where)
            pending_unwind = (where, rec)
            if rec["trailing"].strip(b"\0") or len(rec["trailing"]) >= 8:
                errors.append("%s: %d bytes after the unwinding data "
                              "(padding must be < 8 zero bytes)"
                              % (where, len(rec["trailing"])))
            if rec["mapped_size"] == 0 and not allow_unmapped:
                errors.append("%s: mapped_size 0: perf 6.1 (libunwind) "
                              "reads the unwinding data through the "
                              "mapping behind the code, so it cannot "
                              "reach it (trampoline slots too small?)"
                              % where)
            elif rec["mapped_size"] not in (0, rec["unwinding_size"]):
                errors.append("%s: mapped_size %d, expected unwinding_size "
                              "%d (perf maps mapped_size bytes of "
                              "unwinding data behind the code)"
                              % (where, rec["mapped_size"],
                                 rec["unwinding_size"]))
        elif rid == CODE_LOAD:
            nloads += 1
            if rec["pid"] != h["pid"]:
                errors.append("%s: pid %d, header says %d (perf would "
                              "give the code to another process)"
                              % (where, rec["pid"], h["pid"]))
            if rec["tid"] == 0:
                errors.append("%s: tid 0" % where)
            if rec["vma"] != rec["code_addr"]:
                errors.append("%s: vma %#x != code_addr %#x"
                              % (where, rec["vma"], rec["code_addr"]))
            if rec["code_size"] == 0:
                errors.append("%s: code_size 0" % where)
            if last_index is not None and rec["code_index"] <= last_index:
                errors.append("%s: code_index %d not increasing (previous "
                              "%d)" % (where, rec["code_index"],
                                       last_index))
            last_index = rec["code_index"]
            if (rec["name_padding"].strip(b"\0")
                    or len(rec["name_padding"]) >= 8):
                errors.append("%s: %d bytes between the name and the last "
                              "code_size bytes, where perf reads the code "
                              "(padding must be < 8 zero bytes)"
                              % (where, len(rec["name_padding"])))
            if not rec["sym"]:
                errors.append("%s: empty name" % where)
            code = rec["code"]
            if code in seen_code:
                errors.append("%s: same code bytes as record %d (perf "
                              "would merge the two functions)"
                              % (where, seen_code[code]))
            seen_code.setdefault(code, i)
            if rec["code_addr"] in seen_addr:
                errors.append("%s: code_addr %#x already loaded by record "
                              "%d" % (where, rec["code_addr"],
                                      seen_addr[rec["code_addr"]]))
            seen_addr.setdefault(rec["code_addr"], i)
            mapped = 0
            if pending_debug is not None:
                _check_debug(errors, pending_debug, rec)
            if pending_unwind is not None:
                mapped = pending_unwind[1]["mapped_size"]
                _check_unwind(errors, pending_unwind, rec, h, fde_range,
                              stub if stub_rules else None, cfi_out)
            align = EH_FRAME_ALIGN
            mapped_end = rec["code_addr"] + (
                (rec["code_size"] + align - 1) // align * align + mapped
                if mapped else rec["code_size"])
            load_extents.append((rec["code_addr"], rec["code_size"],
                                 mapped_end, i))
            pending_debug = pending_unwind = None
    if pending_debug is not None:
        errors.append("%s: not followed by a CODE_LOAD" % pending_debug[0])
    if pending_unwind is not None:
        errors.append("%s: not followed by a CODE_LOAD"
                      % pending_unwind[0])
    if require_close and (not recs or recs[-1]["id"] != CODE_CLOSE):
        errors.append("the file does not end with CODE_CLOSE")
    if closes > 1:
        errors.append("%d CODE_CLOSE records" % closes)
    if loads is not None and nloads != loads:
        errors.append("%d CODE_LOAD records, expected %d" % (nloads, loads))
    _check_extents(errors, load_extents)
    return errors


def _check_extents(errors, extents):
    """perf maps [code_addr, code_addr + round_up(code_size, 8) +
    mapped_size) for each CODE_LOAD and, when it unwinds with libunwind,
    reads the .eh_frame_hdr and .eh_frame through that range: it must not
    cover another CODE_LOAD's code, or later mappings cut it short."""
    starts = sorted((a, s, i) for a, s, _, i in extents)
    keys = [a for a, _, _ in starts]
    for addr, size, mapped_end, i in extents:
        j = bisect.bisect_right(keys, addr)
        if j < len(starts):
            other, _, k = starts[j]
            if other < mapped_end:
                errors.append(
                    "record %d: code at %#x plus its mapped unwinding data "
                    "ends at %#x, past the code of record %d at %#x (perf "
                    "would read another function's bytes as unwinding "
                    "data)" % (i, addr, mapped_end, k, other))


def _check_debug(errors, pending, load):
    where, rec = pending
    if rec["code_addr"] != load["code_addr"]:
        errors.append("%s: code_addr %#x, but the next CODE_LOAD is at %#x"
                      % (where, rec["code_addr"], load["code_addr"]))
    lo, hi = load["code_addr"], load["code_addr"] + load["code_size"]
    for e in rec["entries"]:
        if not lo <= e["addr"] <= hi:
            errors.append("%s: entry address %#x outside the code "
                          "[%#x, %#x]" % (where, e["addr"], lo, hi))
    if rec["entries"] and rec["entries"][0]["addr"] != lo:
        errors.append("%s: first entry at %#x, not at the code start"
                      % (where, rec["entries"][0]["addr"]))
    if len(rec["entries"]) == 1:
        errors.append("%s: a single entry (perf 6.1 ends the line "
                      "sequence at the last entry, so it covers nothing)"
                      % where)


def _check_unwind(errors, pending, load, header, fde_range, stub, cfi_out):
    where, rec = pending
    code_size = load["code_size"]
    text = 0                    # image address of the code: offsets
    eh_base = (code_size + EH_FRAME_ALIGN - 1) // EH_FRAME_ALIGN \
        * EH_FRAME_ALIGN
    hdr_base = eh_base + len(rec["eh_frame"])
    try:
        cies, fdes = parse_eh_frame(rec["eh_frame"], eh_base)
        hdr = parse_eh_frame_hdr(rec["eh_frame_hdr"], hdr_base, hdr_base)
    except DumpError as exc:
        errors.append("%s: %s" % (where, exc))
        return
    if len(cies) != 1 or len(fdes) != 1:
        errors.append("%s: %d CIEs and %d FDEs, expected one each"
                      % (where, len(cies), len(fdes)))
    if hdr["eh_frame_ptr"] != eh_base:
        errors.append("%s: .eh_frame_hdr eh_frame_ptr points to %+d, "
                      ".eh_frame is at %+d" % (where, hdr["eh_frame_ptr"],
                                               eh_base))
    if hdr["fde_count"] != len(fdes):
        errors.append("%s: .eh_frame_hdr counts %d FDEs, .eh_frame has %d"
                      % (where, hdr["fde_count"], len(fdes)))
    for loc, fde_addr in hdr["table"]:
        fde = fdes.get(fde_addr - eh_base)
        if fde is None:
            errors.append("%s: .eh_frame_hdr table points to %+d, not to "
                          "an FDE" % (where, fde_addr))
        elif fde["pc_begin"] != loc:
            errors.append("%s: .eh_frame_hdr table says %+d, the FDE "
                          "starts at %+d" % (where, loc, fde["pc_begin"]))
    for fde in fdes.values():
        cie = cies[fde["cie"]]
        if fde["pc_begin"] != text:
            errors.append("%s: FDE pc_begin resolves to code%+d, not to "
                          "the code start" % (where, fde["pc_begin"]))
        if fde_range is not None and fde["pc_range"] != fde_range:
            errors.append("%s: FDE covers %d bytes, expected %d"
                          % (where, fde["pc_range"], fde_range))
        if fde["pc_begin"] + fde["pc_range"] > code_size:
            errors.append("%s: FDE covers past the code" % where)
        try:
            rows = run_cfi(cie, fde)
        except DumpError as exc:
            errors.append("%s: %s" % (where, exc))
            continue
        regnames = stub["regs"] if stub else {}
        if cfi_out is not None:
            cfi_out.append((load["sym"], fde, cie,
                            [(r[0], format_rule(r, regnames))
                             for r in rows]))
        if stub:
            if cie["ra"] != (16 if header["elf_mach"] == EM_X86_64
                             else 30):
                errors.append("%s: return address column %d"
                              % (where, cie["ra"]))
            at = expand_rows(rows, fde["pc_range"])
            for expected in stub["rules"]:
                got = at(expected[0])
                if got is None or got[1:] != expected[1:]:
                    errors.append(
                        "%s: at +%d the rule is %s, the stub needs %s%s"
                        % (where, expected[0],
                           format_rule(got, regnames) if got else "none",
                           format_rule(expected, regnames),
                           " (the return point of the stub's call and of "
                           "the evaluator's frame records for inlined "
                           "calls)" if expected[0] == stub["return"]
                           else ""))


def _jsonable(dump):
    def conv(v):
        if isinstance(v, bytes):
            return v.hex()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v
    return dict(header=dump.header, size=dump.size,
                records=[conv(r) for r in dump.records],
                errors=dump.errors)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump")
    ap.add_argument("--require-close", action="store_true")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--loads", type=int)
    ap.add_argument("--fde-range", type=int)
    ap.add_argument("--no-stub-rules", action="store_true")
    ap.add_argument("--allow-unmapped", action="store_true")
    ap.add_argument("--cfi", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        dump = parse(args.dump)
    except OSError as exc:
        print("jitdump_check: %s" % exc, file=sys.stderr)
        return 2
    cfi = [] if args.cfi else None
    errors = check(dump, require_close=args.require_close, pid=args.pid,
                   loads=args.loads, fde_range=args.fde_range,
                   stub_rules=not args.no_stub_rules, cfi_out=cfi,
                   allow_unmapped=args.allow_unmapped)
    if args.json:
        print(json.dumps(_jsonable(dump), indent=1))
    h = dump.header
    if h and not args.json:
        print("%s: pid %d, elf_mach %d, %d bytes, %d records"
              % (args.dump, h.get("pid", 0), h.get("elf_mach", 0),
                 dump.size, len(dump.records)))
    if args.list:
        for rec in dump.records:
            if rec["id"] == CODE_LOAD and "error" not in rec:
                print("  load #%d %#x+%d %s" % (rec["code_index"],
                                               rec["code_addr"],
                                               rec["code_size"],
                                               rec["sym"]))
            elif rec["id"] == CODE_DEBUG_INFO and "error" not in rec:
                print("  %s (%d bytes)" % (rec["name"], rec["total_size"]))
                for e in rec["entries"]:
                    print("    line %#x %s:%d" % (e["addr"], e["filename"],
                                                  e["lineno"]))
            else:
                print("  %s (%d bytes)" % (rec["name"],
                                           rec["total_size"]))
    if cfi:
        shown = set()
        for sym, fde, cie, rows in cfi:
            key = (fde["pc_range"], tuple(rows))
            if key in shown:
                continue
            shown.add(key)
            print("CFI (%s, FDE covers +0..+%d, code_align %d, data_align "
                  "%d, ra column %d):" % (sym, fde["pc_range"],
                                          cie["code_align"],
                                          cie["data_align"], cie["ra"]))
            for off, rule in rows:
                print("  +%-3d %s" % (off, rule))
    for err in errors:
        print("ERROR: %s" % err)
    if errors:
        print("INVALID: %d error(s)" % len(errors))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
