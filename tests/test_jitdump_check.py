"""Tests of tools/jitdump_check.py: the sample dumps written by the jitdump
backend (through jit-harness; x86-64 with 128-byte slots, aarch64 with
256-byte slots, both with mapped_size = unwinding_size) are valid, and
each kind of damage the checker exists for is reported.

    build/python tests/test_jitdump_check.py
"""
import os
import sys
import struct
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tools"))
import jitdump_check as jc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = {
    "x86_64": os.path.join(HERE, "data", "jit-x86_64.dump"),
    "aarch64": os.path.join(HERE, "data", "jit-aarch64.dump"),
}


def load(arch):
    with open(SAMPLES[arch], "rb") as f:
        return bytearray(f.read())


def errors_of(data, **kwargs):
    return jc.check(jc.parse(bytes(data)), **kwargs)


def records(data):
    return jc.parse(bytes(data)).records


def respace(data, step):
    """The dump with its trampolines moved step bytes apart (from the
    first one's address), line tables along."""
    loads = [r for r in records(data) if r["id"] == jc.CODE_LOAD]
    debug = [r for r in records(data) if r["id"] == jc.CODE_DEBUG_INFO]
    base = loads[0]["code_addr"]
    for i, (ld, dbg) in enumerate(zip(loads, debug)):
        addr = base + step * i
        struct.pack_into("<QQ", data, ld["offset"] + 24, addr, addr)
        struct.pack_into("<Q", data, dbg["offset"] + 16, addr)
        pos = dbg["offset"] + 32
        for e in dbg["entries"]:
            struct.pack_into("<Q", data, pos, addr + e["addr"]
                             - dbg["code_addr"])
            pos += 16 + len(e["filename"].encode()) + 1
    return data


def first(data, rid):
    return next(r for r in records(data) if r["id"] == rid)


class ValidSamples(unittest.TestCase):
    def test_samples_are_valid(self):
        for arch in SAMPLES:
            with self.subTest(arch=arch):
                data = load(arch)
                self.assertEqual(errors_of(data, require_close=True,
                                           loads=4), [])

    def test_cfa_rules_match_the_stub(self):
        for arch, mach in (("x86_64", jc.EM_X86_64),
                           ("aarch64", jc.EM_AARCH64)):
            with self.subTest(arch=arch):
                out = []
                self.assertEqual(errors_of(load(arch), cfi_out=out), [])
                self.assertEqual(len(out), 4)
                _, fde, _, rows = out[0]
                self.assertEqual(fde["pc_range"], jc.STUBS[mach]["size"])
                self.assertEqual(rows[0][0], 0)

    def test_listing(self):
        data = load("x86_64")
        names = [r["sym"] for r in records(data)
                 if r["id"] == jc.CODE_LOAD]
        self.assertEqual(names[0], "py::main:/srv/app/harness_src.py")
        debug = first(data, jc.CODE_DEBUG_INFO)
        self.assertEqual([e["lineno"] for e in debug["entries"]], [10, 10])


class Damage(unittest.TestCase):
    def assertReports(self, data, text, **kwargs):
        errors = errors_of(data, **kwargs)
        self.assertTrue(any(text in e for e in errors),
                        "%r not in %r" % (text, errors))

    def assertFieldReported(self, rec, offset, fmt, value, text):
        """Overwrite a field of the sample's record rec (a record of the
        x86-64 sample, by default its first of that kind, or a record id)
        and expect text in the checker's errors."""
        data = load("x86_64")
        if isinstance(rec, int):
            rec = first(data, rec)
        struct.pack_into(fmt, data, rec["offset"] + offset, value)
        self.assertReports(data, text)

    def test_elf_mach_zero(self):
        data = load("x86_64")
        struct.pack_into("<I", data, 12, 0)
        self.assertReports(data, "elf_mach 0")

    def test_reserved_bytes(self):
        data = load("x86_64")
        struct.pack_into("<I", data, 16, 0xAAAAAAAA)
        self.assertReports(data, "pad1")

    def test_torn_record(self):
        data = load("x86_64")
        self.assertReports(data[:-5], "torn record")
        self.assertReports(data[:-20], "torn record")

    def test_trailing_prefix(self):
        data = load("x86_64") + b"\0" * 7
        self.assertReports(data, "torn record prefix")

    def test_missing_close(self):
        data = load("x86_64")[:-16]
        self.assertEqual(errors_of(data), [])
        self.assertReports(data, "does not end with CODE_CLOSE",
                           require_close=True)

    def test_record_after_close(self):
        data = load("x86_64")
        data += data[-16:]
        self.assertReports(data, "record after CODE_CLOSE")

    def test_code_not_at_the_end(self):
        # Padding after the code instead of between name and code: perf
        # would read shifted code bytes.
        data = load("x86_64")
        rec = first(data, jc.CODE_LOAD)
        off, size = rec["offset"], rec["total_size"]
        body = bytes(data[off:off + size])
        name_end = body.index(b"\0", 56) + 1
        code = rec["code"]
        moved = body[:name_end] + code + bytes(size - name_end - len(code))
        data[off:off + size] = moved
        self.assertReports(data, "where perf reads the code")

    def test_duplicate_code_bytes(self):
        data = load("x86_64")
        loads = [r for r in records(data) if r["id"] == jc.CODE_LOAD]
        a, b = loads[0], loads[1]
        n = a["code_size"]
        a_end = a["offset"] + a["total_size"]
        b_end = b["offset"] + b["total_size"]
        data[b_end - n:b_end] = data[a_end - n:a_end]
        self.assertReports(data, "same code bytes")

    def test_code_index_not_increasing(self):
        loads = [r for r in records(load("x86_64"))
                 if r["id"] == jc.CODE_LOAD]
        self.assertFieldReported(loads[1], 48, "<Q", 1,
                                 "code_index 1 not increasing")

    def test_foreign_pid_in_code_load(self):
        self.assertFieldReported(jc.CODE_LOAD, 16, "<I", 1,
                                 "perf would give the code to another")

    def test_timestamp_going_back(self):
        self.assertFieldReported(records(load("x86_64"))[3], 8, "<Q", 1,
                                 "goes back")

    def test_single_line_entry(self):
        self.assertFieldReported(jc.CODE_DEBUG_INFO, 24, "<Q", 1,
                                 "a single entry")

    def test_fde_range(self):
        data = load("x86_64")
        rec = first(data, jc.CODE_UNWINDING_INFO)
        cies, fdes = jc.parse_eh_frame(rec["eh_frame"], 0)
        fde = next(iter(fdes.values()))
        # pc_range follows length, CIE pointer and pc_begin.
        struct.pack_into("<I", data, rec["offset"] + 40 + fde["offset"]
                         + 12, 24)
        self.assertReports(data, "FDE covers 24 bytes, expected 22")

    def test_fde_pc_begin(self):
        data = load("x86_64")
        rec = first(data, jc.CODE_UNWINDING_INFO)
        cies, fdes = jc.parse_eh_frame(rec["eh_frame"], 0)
        fde = next(iter(fdes.values()))
        pos = rec["offset"] + 40 + fde["offset"] + 8
        value = struct.unpack_from("<i", data, pos)[0]
        struct.pack_into("<i", data, pos, value + 4)
        self.assertReports(data, "pc_begin resolves to code+4")

    def test_cfa_rule(self):
        # CFA = rbp + 16 at +8 becomes CFA = rsp + 16: wrong from the
        # reserve's sub on, at the call and at its return point.
        data = load("x86_64")
        rec = first(data, jc.CODE_UNWINDING_INFO)
        start = rec["offset"] + 40
        eh = bytes(data[start:start + len(rec["eh_frame"])])
        pos = eh.index(bytes([0x0D, 0x06]))     # def_cfa_register rbp
        data[start + pos + 1] = 7
        self.assertReports(data, "at +8 the rule is CFA=rsp+16")

    def test_return_point_rule(self):
        # The evaluator's frame records for inlined calls return to the
        # stub's return point (x86-64 +20, aarch64 +24): ending the
        # frame-pointer rule one instruction early breaks them.
        # (arch, the advance to the epilogue's rule, one that ends the
        # frame-pointer rule at the return point instead, that point)
        for arch, advance, early, at in (("x86_64", 0x4D, 0x4C, 20),
                                         ("aarch64", 0x44, 0x42, 24)):
            with self.subTest(arch=arch):
                data = load(arch)
                rec = first(data, jc.CODE_UNWINDING_INFO)
                cies, fdes = jc.parse_eh_frame(rec["eh_frame"], 0)
                fde = next(iter(fdes.values()))
                start = rec["offset"] + 40 + fde["offset"]
                end = start + fde["length"]
                pos = data.index(bytes([advance]), start + 17, end)
                data[pos] = early
                self.assertReports(data, "at +%d the rule is" % at)
                self.assertReports(data, "the return point of the stub's "
                                   "call and of the evaluator's frame "
                                   "records")

    def test_unmapped_unwinding_data(self):
        data = load("x86_64")
        for rec in records(data):
            if rec["id"] == jc.CODE_UNWINDING_INFO:
                struct.pack_into("<Q", data, rec["offset"] + 32, 0)
        self.assertReports(data, "mapped_size 0")
        self.assertEqual(errors_of(data, allow_unmapped=True), [])

    def test_overlapping_slots(self):
        # Two trampolines 32 bytes apart: the unwinding data perf maps
        # behind the first covers the second.
        data = respace(load("x86_64"), 32)
        self.assertReports(data, "past the code of record")

    def test_aarch64_slots_of_128(self):
        # aarch64: 48 bytes of code and 84 of unwinding data need 132
        # bytes, more than a 128-byte slot (why its slots are 256 bytes);
        # x86-64's 32 + 76 = 108 fit in 128.
        self.assertEqual(errors_of(respace(load("x86_64"), 128)), [])
        data = respace(load("aarch64"), 128)
        self.assertReports(data, "ends at 0x5502a31084, past the code of "
                           "record 5 at 0x5502a31080")
        self.assertEqual(errors_of(respace(load("aarch64"), 256)), [])


if __name__ == "__main__":
    unittest.main()
