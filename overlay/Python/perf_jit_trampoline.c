/* The "perf_jit" backend: describe perf trampolines in a jitdump file.

   Problem.  Every Python function runs inside the same C function, so a
   native profiler sees _PyEval_EvalFrameDefault over and over.  The
   trampoline manager (Python/perf_trampoline.c) enters each Python function
   through its own copy of a small machine-code stub (Python/asm_trampoline.S)
   and asks a backend to tell perf which copy belongs to which function.
   The perf map backend writes a text file that perf uses for names only,
   so walking the stack through a copy needs frame pointers.  This backend
   writes perf's jitdump format instead: besides the name, perf gets a copy
   of the code bytes, a line table and the unwinding information (CFI) of
   the stub, so that `perf record --call-graph dwarf` walks through the
   trampolines even when the interpreter has no frame pointers.

   Mechanism.  The process creates /tmp/jit-<pid>.dump and maps its first
   page PROT_READ|PROT_EXEC.  perf record logs that mmap; `perf inject
   --jit` recognizes the file name, reads the dump, and for every CODE_LOAD
   writes an ELF image (jitted-<pid>-<n>.so) and a synthesized mmap event
   for it, so perf report resolves the copies like a shared library.  Each
   trampoline gets three records, in this order:

     CODE_DEBUG_INFO      co_filename and co_firstlineno, which perf turns
                          into the image's .debug_line (srcline);
     CODE_UNWINDING_INFO  an .eh_frame (one CIE, one FDE for the stub) and
                          its .eh_frame_hdr, which perf copies behind the
                          code in the image;
     CODE_LOAD            the name "py::<qualname>:<filename>" and the
                          slot's code bytes.

   perf applies the first two to the CODE_LOAD that follows them, so the
   three go to the file together or not at all.  CODE_CLOSE ends the file
   at clean shutdown.  What perf 6.1 (Debian 12) expects beyond the format
   description was measured with a stand-alone harness and `readelf` on the
   images it synthesizes; each such fact is stated where it is used: the
   code is the last code_size bytes of a CODE_LOAD record, a line table
   needs an entry at both ends of the code, .eh_frame is placed at
   round_up(code_size, 8) behind the code, and the unwinding data is read
   through the address range behind the code (see unwind_mapped_size()).

   Invariants.
   * The file is only ever created (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600),
     never opened by name unless this process created it: an existing file
     (a symlink, a FIFO, another user's file) is refused and nothing is
     written through it.  A regular file of our own user there, last
     written before this process started, is a leftover of a dead process
     with the same pid: it is unlinked and the file created afresh.  One
     written since was created by this process before an exec(): it is
     continued, after checking its header and cutting any torn record (see
     open_existing()).  Reopening after close() checks that the name still
     leads to the very inode this process created (device, inode and
     size).  A file with a second name (a hard link) is never written.
   * The file always ends on a record boundary.  Records are built in
     memory, whole triples at a time, and written by flush() with pwrite()
     at the remembered end of the last complete record; a write that fails
     half way is truncated back to it, and the records stay buffered.
   * The exec mapping of the first page is never unmapped: perf attributes
     the dump to the process through that mmap event.
   * Every record carries a CLOCK_MONOTONIC timestamp, the clock of `perf
     record -k 1`, so perf orders the synthesized mmap events correctly
     against the samples; CODE_LOAD also carries the writer's pid and
     thread id, and perf gives the code to the process named there.
   * Every CODE_LOAD carries the slot's code bytes, which end with the
     slot's unique tag: perf derives an image's build-id from its code
     bytes, and identical bytes would merge different functions.
   * Nothing here aborts or raises: failures are reported with
     _PyPerf_SetError() and -1; the manager warns once and goes on without
     trampolines.

   Fork.  The parent flushes before fork().  The child starts with a copy
   of the parent's state: after_fork_child() discards the copied buffer and
   closes the inherited descriptor without writing to either, since they
   belong to the parent's file.  perf ties a dump to a process through that
   process's own mmap of jit-<pid>.dump, so the child needs a file and a
   mapping of its own; they are created by the next open() or write_code()
   (a child that never runs Python code leaves no file).  With
   persist-after-fork the child creates its file at once and starts it
   with the parent's records, so that trampolines compiled before the fork
   resolve in the child even when perf attaches to the child only (perf
   record -p <worker>).  The copies get the child's pid and tid (perf would
   give them to the parent otherwise) and a fresh timestamp (not older than
   the child's header and fork).  The inherited mapping of the parent's
   file is left alone.

   Who frees what.  All state is in _PyRuntime.perf.jit (accessed as
   perf_jit here).  The record buffer is allocated with the C library's
   realloc() and freed with free() (never with PyMem_Raw*(), whose
   allocator can change between Py_Initialize() and Py_Finalize()) by
   close(), after_fork_child() and after a large flush.  The descriptor
   is closed by close() and after_fork_child().  The exec mapping is
   never unmapped.
   Nothing borrowed from the manager (_PyPerf_CodeInfo and its strings) is
   kept after write_code() returns.

   Flushing.  Records wait in the buffer until it holds 64 KiB, the
   manager flushes (deactivation, backend switch, fork(), exec(), exit,
   os._exit()), or a flusher thread of the writer's own (the map writer's
   kind, _PyPerfFlusher in pycore_perf.h) writes them 50 ms after the first
   of them was added.  perf reads the dump only after the recording, but a
   process that ends without exiting cleanly (a server stopped with
   SIGTERM, a crash) would otherwise lose every record still buffered,
   and with it every name.  The callbacks run with the GIL held and the
   thread without it: all state here, and _PyRuntime.perf.dirty_ns, is
   guarded by perf_jit.lock, which every callback takes. */

#include "Python.h"
#include "pycore_perf.h"          // _PyPerf_Backend, _PyPerf_CodeInfo
#include "pycore_runtime.h"       // _PyRuntime.perf.jit

#ifdef PY_HAVE_PERF_TRAMPOLINE

#include <errno.h>                // errno, EINTR, EEXIST, EIO
#include <fcntl.h>                // open(), O_*
#include <stdio.h>                // snprintf()
#include <stdlib.h>               // realloc(), free()
#include <string.h>               // memcpy(), memmove(), memset(), strlen(),
                                  // strerror()
#include <sys/mman.h>             // mmap(), MAP_FAILED, PROT_*, MAP_PRIVATE
#include <sys/stat.h>             // fstat(), struct stat, S_ISREG()
#include <sys/types.h>            // off_t, pid_t, dev_t, ino_t
#include <time.h>                 // clock_gettime(), CLOCK_MONOTONIC
#include <unistd.h>               // getpid(), pread(), pwrite(), close(),
                                  // ftruncate(), unlink(), sysconf()


/* ---- The jitdump format (perf: Documentation/jitdump-specification) ---- */

#define JITDUMP_MAGIC 0x4A695444        /* "JiTD" as a host-endian u32 */
#define JITDUMP_VERSION 1

/* Record ids. */
#define JIT_CODE_LOAD 0
#define JIT_CODE_MOVE 1                 /* never written: slots never move */
#define JIT_CODE_DEBUG_INFO 2
#define JIT_CODE_CLOSE 3
#define JIT_CODE_UNWINDING_INFO 4

/* Every record, padding included, is a multiple of this size. */
#define JITDUMP_RECORD_ALIGN 8

/* File header. */
typedef struct {
    uint32_t magic;             /* magic: JITDUMP_MAGIC */
    uint32_t version;           /* version: JITDUMP_VERSION */
    uint32_t total_size;        /* total_size: size of this header, 40 */
    uint32_t elf_mach;          /* elf_mach: ELF e_machine of the code */
    uint32_t pad1;              /* pad1: reserved, 0 */
    uint32_t pid;               /* pid: the process writing the file */
    uint64_t timestamp;         /* timestamp: creation, CLOCK_MONOTONIC ns */
    uint64_t flags;             /* flags: 0, timestamps are not arch TSC */
} jitdump_header;

/* Start of every record. */
typedef struct {
    uint32_t id;                /* id: JIT_CODE_* */
    uint32_t total_size;        /* total_size: whole record with padding */
    uint64_t timestamp;         /* timestamp: CLOCK_MONOTONIC ns */
} jitdump_prefix;

/* CODE_LOAD, followed by the NUL-terminated name, zero padding, and the
   code_size bytes of code, which end the record: perf 6.1 reads the code
   at total_size - code_size, so padding after the code would shift it. */
typedef struct {
    jitdump_prefix p;           /* prefix, id JIT_CODE_LOAD */
    uint32_t pid;               /* pid: process the code belongs to */
    uint32_t tid;               /* tid: thread that described the code */
    uint64_t vma;               /* vma: virtual address of the code */
    uint64_t code_addr;         /* code_addr: address of the code */
    uint64_t code_size;         /* code_size: bytes of code at the end */
    uint64_t code_index;        /* code_index: unique, increasing */
} jitdump_code_load;

/* CODE_DEBUG_INFO, followed by nr_entry entries and zero padding.  It
   applies to the next CODE_LOAD. */
typedef struct {
    jitdump_prefix p;           /* prefix, id JIT_CODE_DEBUG_INFO */
    uint64_t code_addr;         /* code_addr: address of the code */
    uint64_t nr_entry;          /* nr_entry: number of entries */
} jitdump_debug_info;

/* One line table entry, followed by its NUL-terminated file name; the
   next entry starts right after the NUL (entries are not aligned). */
typedef struct {
    uint64_t addr;              /* addr: code address of the line */
    uint32_t lineno;            /* lineno: source line number */
    uint32_t discrim;           /* discrim: DWARF discriminator, 0 */
} jitdump_debug_entry;

/* CODE_UNWINDING_INFO, followed by unwinding_size bytes, .eh_frame then
   .eh_frame_hdr, and zero padding.  It applies to the next CODE_LOAD. */
typedef struct {
    jitdump_prefix p;           /* prefix, id JIT_CODE_UNWINDING_INFO */
    uint64_t unwinding_size;    /* unwinding_size: .eh_frame + its hdr */
    uint64_t eh_frame_hdr_size; /* eh_frame_hdr_size: the hdr, at the end */
    uint64_t mapped_size;       /* mapped_size: bytes perf maps behind the
                                   code for the unwinding data */
} jitdump_unwinding_info;

/* CODE_CLOSE is a bare jitdump_prefix. */


/* ---- Unwinding information of the stub ---- */

/* perf inject (6.1) builds the image with .text at some offset T and
   .eh_frame at T + round_up(code_size, 8), followed by .eh_frame_hdr
   (checked with readelf on images of code sizes 21, 24 and 40).  The data
   below only uses pc-relative and .eh_frame_hdr-relative encodings, so it
   depends on that layout but not on any address. */
#define PERF_EH_FRAME_ALIGN 8

/* DWARF call frame instructions and pointer encodings. */
#define DW_CFA_nop 0x00
#define DW_CFA_def_cfa 0x0c
#define DW_CFA_def_cfa_register 0x0d
#define DW_CFA_def_cfa_offset 0x0e
#define DW_CFA_AARCH64_negate_ra_state 0x2d
#define DW_CFA_advance_loc 0x40         /* | delta / code alignment */
#define DW_CFA_offset 0x80              /* | register, ULEB128 offset */
#define DW_CFA_restore 0xc0             /* | register */

#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30

/* The rules for the CFA (the caller's stack pointer before the call) and
   the saved registers, instruction by instruction.  The offsets are those
   of Python/asm_trampoline.S; stub_fde_size() asserts that the stub size
   still matches.  Registers are DWARF numbers. */
#if defined(__x86_64__)

#define CFI_CODE_ALIGN 1
#define CFI_DATA_ALIGN (-8)
#define CFI_RA_COLUMN 16                /* the return address, "rip" */
#define CFI_STUB_SIZE 22

static const uint8_t cie_instructions[] = {
    /* From the entry (0: endbr64; 4: push %rbp) the return address is on
       top of the stack. */
    DW_CFA_def_cfa, 7, 8,               /* CFA = rsp + 8 */
    DW_CFA_offset | 16, 1,              /* return address at CFA - 8 */
};

static const uint8_t fde_instructions[] = {
    DW_CFA_advance_loc | 5,             /* 5: after push %rbp */
    DW_CFA_def_cfa_offset, 16,          /* CFA = rsp + 16 */
    DW_CFA_offset | 6, 2,               /* rbp saved at CFA - 16 */
    DW_CFA_advance_loc | 3,             /* 8: after mov %rsp,%rbp; holds
                                           through the reserve and at 20,
                                           where the call returns (and
                                           where the evaluator's frame
                                           records for inlined calls
                                           point) */
    DW_CFA_def_cfa_register, 6,         /* CFA = rbp + 16 */
    DW_CFA_advance_loc | 13,            /* 21: after leave, at ret */
    DW_CFA_def_cfa, 7, 8,               /* CFA = rsp + 8 */
    DW_CFA_restore | 6,                 /* rbp holds the caller's value */
};

#elif defined(__aarch64__)

#define CFI_CODE_ALIGN 4
#define CFI_DATA_ALIGN (-8)
#define CFI_RA_COLUMN 30                /* x30, the link register */
#define CFI_STUB_SIZE 40

static const uint8_t cie_instructions[] = {
    /* From the entry (0: bti c; 4: paciasp) the return address is in x30
       and nothing is on the stack. */
    DW_CFA_def_cfa, 31, 0,              /* CFA = sp */
};

static const uint8_t fde_instructions[] = {
    DW_CFA_advance_loc | 2,             /* 8: after paciasp */
    DW_CFA_AARCH64_negate_ra_state,     /* x30 is signed from here */
    DW_CFA_advance_loc | 1,             /* 12: after stp x29,x30,[sp,#-16]! */
    DW_CFA_def_cfa_offset, 16,          /* CFA = sp + 16 */
    DW_CFA_offset | 29, 2,              /* x29 saved at CFA - 16 */
    DW_CFA_offset | 30, 1,              /* x30 saved at CFA - 8 */
    DW_CFA_advance_loc | 1,             /* 16: after mov x29,sp; holds
                                           through the reserve and at 24,
                                           where the blr returns (and
                                           where the evaluator's frame
                                           records for inlined calls
                                           point) */
    DW_CFA_def_cfa_register, 29,        /* CFA = x29 + 16 */
    DW_CFA_advance_loc | 4,             /* 32: after ldp x29,x30,[sp],#16 */
    DW_CFA_def_cfa, 31, 0,              /* CFA = sp */
    DW_CFA_restore | 29,                /* x29 holds the caller's value */
    DW_CFA_restore | 30,                /* x30 holds the return address */
    DW_CFA_advance_loc | 1,             /* 36: after autiasp, at ret */
    DW_CFA_AARCH64_negate_ra_state,     /* x30 is no longer signed */
};

#else
#  error "perf trampolines are only supported on x86-64 and aarch64"
#endif

/* The .eh_frame_hdr: 4 bytes of version and encodings, eh_frame_ptr,
   fde_count, and one table entry of two 4-byte values. */
#define EH_FRAME_HDR_SIZE 20
/* Room for .eh_frame and .eh_frame_hdr: 76 bytes on x86-64, 84 on
   aarch64. */
#define UNWIND_DATA_MAX 128

/* A bounded byte writer for the unwinding data. */
typedef struct {
    uint8_t data[UNWIND_DATA_MAX];
    size_t len;
    int overflow;
} byte_writer;

static void
bw_u8(byte_writer *w, uint8_t value)
{
    if (w->len >= sizeof(w->data)) {
        w->overflow = 1;
        return;
    }
    w->data[w->len++] = value;
}

static void
bw_bytes(byte_writer *w, const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        bw_u8(w, data[i]);
    }
}

/* Host endian, like the rest of the dump and the image perf builds. */
static void
bw_u32(byte_writer *w, uint32_t value)
{
    uint8_t raw[4];
    memcpy(raw, &value, sizeof(raw));
    bw_bytes(w, raw, sizeof(raw));
}

static void
bw_s32(byte_writer *w, int32_t value)
{
    bw_u32(w, (uint32_t)value);
}

static void
bw_uleb128(byte_writer *w, uint32_t value)
{
    do {
        uint8_t byte = value & 0x7f;
        value >>= 7;
        bw_u8(w, value ? (byte | 0x80) : byte);
    } while (value);
}

static void
bw_sleb128(byte_writer *w, int32_t value)
{
    for (;;) {
        uint8_t byte = value & 0x7f;
        /* Floor division by 128: a portable arithmetic shift. */
        value = value >= 0 ? value / 128 : -((-value + 127) / 128);
        if ((value == 0 && !(byte & 0x40))
            || (value == -1 && (byte & 0x40)))
        {
            bw_u8(w, byte);
            return;
        }
        bw_u8(w, byte | 0x80);
    }
}

/* Pad the CIE or FDE that starts at 'start' with DW_CFA_nop to a multiple
   of 8 bytes (length field included), then store its length. */
static void
bw_finish_entry(byte_writer *w, size_t start)
{
    while ((w->len - start) % 8 != 0) {
        bw_u8(w, DW_CFA_nop);
    }
    if (w->overflow) {
        return;
    }
    uint32_t length = (uint32_t)(w->len - start - 4);
    memcpy(w->data + start, &length, sizeof(length));
}

static size_t
round_up_eh_frame(size_t code_size)
{
    return (code_size + PERF_EH_FRAME_ALIGN - 1)
           & ~(size_t)(PERF_EH_FRAME_ALIGN - 1);
}

/* The bytes the FDE covers: the stub's instructions only.  The rest of
   the reported code is the slot's padding and tag, data that is never
   executed: no sample and no return address can point into it, so rules
   for it would describe nothing. */
static size_t
stub_fde_size(size_t code_size)
{
    Py_BUILD_ASSERT(CFI_STUB_SIZE == _PyPerf_STUB_SIZE);
    return code_size < CFI_STUB_SIZE ? code_size : CFI_STUB_SIZE;
}

/* Build .eh_frame (one CIE, one FDE) and .eh_frame_hdr for code_size
   bytes of code.  In the image perf builds, the code starts at T,
   .eh_frame at E = T + round_up(code_size, 8) and .eh_frame_hdr at
   H = E + eh_frame_size.  There is no zero terminator: .eh_frame_hdr
   finds the FDE, and the section size ends .eh_frame.  Return
   eh_frame_size, or 0 if the data does not fit. */
static size_t
build_unwind_data(byte_writer *w, size_t code_size)
{
    w->len = 0;
    w->overflow = 0;
    if (code_size > INT32_MAX / 2) {
        return 0;
    }
    int32_t text_gap = (int32_t)round_up_eh_frame(code_size);

    /* CIE */
    size_t cie = w->len;
    bw_u32(w, 0);                       /* length, set by finish_entry */
    bw_u32(w, 0);                       /* CIE id: 0 in .eh_frame */
    bw_u8(w, 1);                        /* version */
    bw_bytes(w, (const uint8_t *)"zR", 3);  /* augmentation, with NUL */
    bw_uleb128(w, CFI_CODE_ALIGN);      /* code alignment factor */
    bw_sleb128(w, CFI_DATA_ALIGN);      /* data alignment factor */
    bw_u8(w, CFI_RA_COLUMN);            /* return address column */
    bw_uleb128(w, 1);                   /* augmentation data length */
    bw_u8(w, DW_EH_PE_pcrel | DW_EH_PE_sdata4);  /* FDE pointer encoding */
    bw_bytes(w, cie_instructions, sizeof(cie_instructions));
    bw_finish_entry(w, cie);

    /* FDE */
    size_t fde = w->len;
    bw_u32(w, 0);                       /* length, set by finish_entry */
    bw_u32(w, (uint32_t)(w->len - cie));    /* CIE pointer: back to it */
    /* pc_begin, pc-relative: from this field at E + w->len back to T. */
    bw_s32(w, -(text_gap + (int32_t)w->len));
    bw_u32(w, (uint32_t)stub_fde_size(code_size));    /* pc_range */
    bw_uleb128(w, 0);                   /* augmentation data length */
    bw_bytes(w, fde_instructions, sizeof(fde_instructions));
    bw_finish_entry(w, fde);
    int32_t eh_frame_size = (int32_t)w->len;

    /* .eh_frame_hdr: a binary search table with one entry. */
    bw_u8(w, 1);                        /* version */
    bw_u8(w, DW_EH_PE_pcrel | DW_EH_PE_sdata4);    /* eh_frame_ptr_enc */
    bw_u8(w, DW_EH_PE_udata4);                      /* fde_count_enc */
    bw_u8(w, DW_EH_PE_datarel | DW_EH_PE_sdata4);  /* table_enc */
    /* eh_frame_ptr, pc-relative: from this field at H + 4 back to E. */
    bw_s32(w, -(eh_frame_size + 4));
    bw_u32(w, 1);                       /* fde_count */
    /* The table is relative to H: initial location T, then the FDE. */
    bw_s32(w, -(text_gap + eh_frame_size));
    bw_s32(w, (int32_t)fde - eh_frame_size);

    if (w->overflow || w->len != (size_t)eh_frame_size + EH_FRAME_HDR_SIZE) {
        return 0;
    }
    return (size_t)eh_frame_size;
}

/* How many bytes behind the code perf should map for the unwinding data.

   perf inject turns a CODE_LOAD into an mmap event of round_up(code_size,
   8) + mapped_size bytes at code_addr, and perf 6.1 as Debian builds it
   (DWARF unwinding by libunwind) reads the .eh_frame_hdr table and the FDE
   at those addresses, through whatever mapping perf has there, not from
   the image of the code.  Measured with the harness (4 nested trampolines
   under --call-graph dwarf):
   * slots of 128 bytes, mapped_size = unwinding_size: every sample is
     unwound through the stubs by this CFI into the caller (main()); with
     the CFI flattened or removed, the walk stops at the first stub;
   * slots of 32 bytes: the range covers the following slots, whose own
     mmap events cut it short (or, if they were described first, as a fork
     child does in call order, lose their names to it), and libunwind
     reads a neighbour's bytes as the table: the walk stops at the
     outermost trampoline.  With mapped_size = 0 instead the table lookup
     finds no mapping and libunwind falls back to the frame-pointer chain,
     which the stub keeps: it works on x86-64 whatever the CFI says.
   So the bytes are claimed only when they fit in the trampoline's slot,
   and names are never put at risk.  DWARF unwinding proper needs
   _PyPerf_SLOT_SIZE >= round_up(_PyPerf_SLOT_CODE_SIZE, 8) + the
   unwinding data: 32 + 76 = 108 on x86-64 (slots of 128), 48 + 84 = 132
   on aarch64 (slots of 256). */
static uint64_t
unwind_mapped_size(size_t code_size, size_t unwind_size)
{
    if (round_up_eh_frame(code_size) + unwind_size > _PyPerf_SLOT_SIZE) {
        return 0;
    }
    return unwind_size;
}


/* ---- State ---- */

/* Flush when this much is pending (a trampoline takes some 350 bytes). */
#define PERF_JIT_BUFFER_LIMIT (64 * 1024)

/* Everything the backend keeps is in _PyRuntime.perf.jit (struct
   _perf_jit_state in Include/internal/pycore_perf.h). */
typedef struct _perf_jit_state perf_jit_state;
#define perf_jit (_PyRuntime.perf.jit)


/* ---- Helpers ---- */

static uint64_t
monotonic_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static size_t
align_record(size_t size)
{
    return (size + JITDUMP_RECORD_ALIGN - 1)
           & ~(size_t)(JITDUMP_RECORD_ALIGN - 1);
}

/* Write (pwrite()) or read (pread()) exactly size bytes at offset,
   retrying after short transfers and EINTR: the one I/O loop of this
   file.  Return 0, or -1 with errno set; EIO when a transfer makes no
   progress (the file is shorter than it was, or cannot grow). */
static int
transfer_all_at(int fd, off_t offset, char *data, size_t size, int writing)
{
    while (size > 0) {
        size_t chunk = size < ((size_t)1 << 30) ? size : ((size_t)1 << 30);
        ssize_t n = writing ? pwrite(fd, data, chunk, offset)
                            : pread(fd, data, chunk, offset);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        data += n;
        offset += n;
        size -= (size_t)n;
    }
    return 0;
}

static int
write_all_at(int fd, off_t offset, const void *data, size_t size)
{
    return transfer_all_at(fd, offset, (char *)data, size, 1);
}

static int
read_all_at(int fd, off_t offset, void *data, size_t size)
{
    return transfer_all_at(fd, offset, (char *)data, size, 0);
}

/* Make room for 'extra' more bytes in the record buffer. */
static int
buffer_reserve(perf_jit_state *st, size_t extra)
{
    if (extra > (size_t)PY_SSIZE_T_MAX - st->buf_len) {
        _PyPerf_SetError("jitdump record buffer too large");
        return -1;
    }
    size_t needed = st->buf_len + extra;
    if (needed <= st->buf_size) {
        return 0;
    }
    size_t new_size = st->buf_size ? st->buf_size : PERF_JIT_BUFFER_LIMIT;
    while (new_size < needed) {
        new_size = new_size > (size_t)PY_SSIZE_T_MAX / 2 ? needed
                                                         : new_size * 2;
    }
    char *buf = realloc(st->buf, new_size);
    if (buf == NULL) {
        _PyPerf_SetError("out of memory for the jitdump record buffer");
        return -1;
    }
    st->buf = buf;
    st->buf_size = new_size;
    return 0;
}

/* Append to the buffer, in room reserved by buffer_reserve(). */
static void
buffer_append(perf_jit_state *st, const void *data, size_t size)
{
    memcpy(st->buf + st->buf_len, data, size);
    st->buf_len += size;
}

static void
buffer_append_zeros(perf_jit_state *st, size_t size)
{
    memset(st->buf + st->buf_len, 0, size);
    st->buf_len += size;
}

static void
buffer_free(perf_jit_state *st)
{
    free(st->buf);
    st->buf = NULL;
    st->buf_len = 0;
    st->buf_size = 0;
    _PyRuntime.perf.dirty_ns = 0;
}

/* Forget the output of another process (the parent, in a fork child)
   without writing anything to it. */
static void
drop_inherited_output(perf_jit_state *st)
{
    if (st->fd >= 0) {
        /* Closing our copy of the descriptor leaves the file alone. */
        (void)close(st->fd);
        st->fd = -1;
    }
    buffer_free(st);
    st->pid = 0;
    st->path[0] = '\0';
    st->file_size = 0;
    st->data_end = 0;
    st->image_start = 0;
    st->broken = 0;
}

/* Write the buffer at the end of the file.  On failure the file is cut
   back to its last complete record and the buffer is dropped. */
static int
flush_buffer(perf_jit_state *st)
{
    _PyRuntime.perf.dirty_ns = 0;
    if (st->buf_len == 0) {
        return 0;
    }
    if (st->broken) {
        _PyPerf_SetError("%s ends with a torn record; "
                         "not writing to it", st->path);
        goto fail;
    }
    if (st->fd < 0) {
        _PyPerf_SetError("no jitdump file is open");
        goto fail;
    }
    if (write_all_at(st->fd, st->file_size, st->buf, st->buf_len) < 0) {
        int err = errno;
        if (ftruncate(st->fd, st->file_size) < 0) {
            st->broken = 1;
            _PyPerf_SetError("cannot write %s (%s), nor cut it "
                             "back to its last complete record (%s)",
                             st->path, strerror(err), strerror(errno));
        }
        else {
            _PyPerf_SetError("cannot write %s: %s",
                             st->path, strerror(err));
        }
        goto fail;
    }
    st->file_size += (off_t)st->buf_len;
    st->data_end = st->file_size;
    st->buf_len = 0;
    if (st->buf_size > 4 * PERF_JIT_BUFFER_LIMIT) {
        /* Give back the memory of a burst (a persist-after-fork copy). */
        buffer_free(st);
    }
    return 0;

fail:
    /* Drop the pending records, as the map writer drops its lines: the
       manager treats a failed flush as a failed output and describes
       every trampoline again if the backend is activated again, so
       keeping them would write each one twice. */
    st->buf_len = 0;
    return -1;
}

/* The flusher thread's flush: the same as flush_buffer(), lock held. */
static int
flush_from_thread(void)
{
    return flush_buffer(&perf_jit);
}

/* Records were just appended to the buffer: the flusher thread writes them
   _PyPerf_FLUSH_DELAY_NS after the first, unless something flushes first. */
static void
buffer_dirty(perf_jit_state *st)
{
    if (_PyRuntime.perf.dirty_ns == 0 && st->buf_len != 0) {
        _PyRuntime.perf.dirty_ns = (int64_t)monotonic_ns();
        _PyPerfFlusher_Notify(&st->flusher, &st->lock,
                              &_PyRuntime.perf.dirty_ns, flush_from_thread,
                              st->pid);
    }
}


/* ---- The file ---- */

/* Map the first page of the file PROT_READ|PROT_EXEC: perf record logs
   this mmap, and perf inject finds the dump through it. */
static int
map_marker(perf_jit_state *st)
{
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) {
        page_size = 4096;
    }
    void *addr = mmap(NULL, (size_t)page_size, PROT_READ | PROT_EXEC,
                      MAP_PRIVATE, st->fd, 0);
    if (addr == MAP_FAILED) {
        _PyPerf_SetError("cannot map %s executable (%s); "
                         "is /tmp mounted noexec?",
                         st->path, strerror(errno));
        return -1;
    }
    st->marker = addr;
    return 0;
}

/* Whether what lstat() finds at path (which O_EXCL found taken) is a
   regular file of our own user, filling in *info.  If it is not, the
   error names the cause: a symlink, something other than a regular file,
   another user's file. */
static int
is_own_regular_file(const char *path, struct stat *info)
{
    if (lstat(path, info) < 0) {
        _PyPerf_SetError("%s exists but cannot be examined: %s",
                         path, strerror(errno));
        return 0;
    }
    if (S_ISLNK(info->st_mode)) {
        _PyPerf_SetError("%s is a symbolic link; refusing to write "
                         "through it", path);
        return 0;
    }
    if (!S_ISREG(info->st_mode)) {
        _PyPerf_SetError("%s exists and is not a regular file; refusing "
                         "to use it", path);
        return 0;
    }
    if (info->st_uid != geteuid()) {
        _PyPerf_SetError("%s is owned by uid %ld, not by this user; "
                         "refusing to use it", path, (long)info->st_uid);
        return 0;
    }
    return 1;
}

/* Scan the records of a dump from offset 'from', a record boundary (the
   header's end, or a dump's image_start), to size: return the end of the
   last complete record, not counting a final CODE_CLOSE, and store the
   largest code_index of its CODE_LOADs in *max_index (0 if none); if
   found is not NULL, call it for each CODE_LOAD (a name too long for the
   buffer is passed cut: it matches nothing).  A record that overruns the
   end of the file is a torn tail (a write cut short by SIGKILL, or a full
   disk); it and anything after it are left out.  Return -1 if the file
   cannot be read. */
static off_t
scan_records(int fd, off_t size, uint64_t *max_index,
             _PyPerf_FoundFunc found, off_t from, void *arg)
{
    off_t end = from;
    off_t data_end = end;
    *max_index = 0;
    while (size - end >= (off_t)sizeof(jitdump_prefix)) {
        jitdump_prefix prefix;
        if (read_all_at(fd, end, &prefix, sizeof(prefix)) < 0) {
            return -1;
        }
        if (prefix.total_size < sizeof(prefix)
            || prefix.total_size > size - end)
        {
            break;
        }
        if (prefix.id == JIT_CODE_LOAD) {
            jitdump_code_load load;
            if (prefix.total_size < sizeof(load)) {
                break;
            }
            if (read_all_at(fd, end, &load, sizeof(load)) < 0) {
                return -1;
            }
            if (load.code_index > *max_index) {
                *max_index = load.code_index;
            }
            if (found != NULL) {
                char name[4352];
                size_t room = prefix.total_size - sizeof(load);
                if (room > sizeof(name) - 1) {
                    room = sizeof(name) - 1;
                }
                if (read_all_at(fd, end + (off_t)sizeof(load), name, room)
                    < 0)
                {
                    return -1;
                }
                name[room] = '\0';
                found((uintptr_t)load.code_addr, name, arg);
            }
        }
        end += prefix.total_size;
        /* A CODE_CLOSE stays the last record: cut it, as reopen_file()
           does, when more records follow. */
        if (prefix.id != JIT_CODE_CLOSE) {
            data_end = end;
        }
    }
    return data_end;
}

/* Continue the dump that this process's image before an exec() (same pid,
   same start time) created at st->path; seen is what lstat() found there.
   That image mapped the file, so perf inject reads it through that image's
   mmap event: removing it, or starting it again, would lose every
   function the image described.  Its header must be a jitdump header of
   this pid and this machine; its records are kept up to the end of the
   last complete one, and code_index goes on after the largest one in
   the file (perf inject names its jitted-<pid>-<code_index>.so images
   after it: an index used twice would overwrite an image).  The file is
   mapped again: perf attributes it to this image through that mmap
   event. */
static int
continue_file(perf_jit_state *st, const struct stat *seen)
{
    /* O_NONBLOCK, in case the name now leads to a FIFO: then fstat()
       below tells it apart from what lstat() saw. */
    int fd = open(st->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        _PyPerf_SetError("cannot open %s: %s", st->path, strerror(errno));
        return -1;
    }
    struct stat info;
    jitdump_header header;
    uint64_t max_index;
    off_t data_end;
    if (fstat(fd, &info) < 0) {
        _PyPerf_SetError("cannot stat %s: %s", st->path, strerror(errno));
        goto error;
    }
    if (info.st_dev != seen->st_dev || info.st_ino != seen->st_ino) {
        _PyPerf_SetError("%s was replaced while it was examined; refusing "
                         "to use it", st->path);
        goto error;
    }
    if (!_PyPerf_HasOneName(st->path, &info)) {
        goto error;
    }
    if (info.st_size < (off_t)sizeof(header)
        || read_all_at(fd, 0, &header, sizeof(header)) < 0
        || header.magic != JITDUMP_MAGIC
        || header.version != JITDUMP_VERSION
        || header.total_size != sizeof(header)
        || header.elf_mach != _PyPerf_ELF_MACHINE
        || header.pid != (uint32_t)getpid())
    {
        _PyPerf_SetError("%s exists and is not a jitdump of this process "
                         "(bad header); refusing to use it", st->path);
        goto error;
    }
    data_end = scan_records(fd, info.st_size, &max_index, NULL,
                            (off_t)sizeof(header), NULL);
    if (data_end < 0) {
        _PyPerf_SetError("cannot read %s: %s", st->path, strerror(errno));
        goto error;
    }
    if (data_end != info.st_size && ftruncate(fd, data_end) < 0) {
        _PyPerf_SetError("cannot truncate %s: %s",
                         st->path, strerror(errno));
        goto error;
    }
    st->fd = fd;
    if (map_marker(st) < 0) {
        st->fd = -1;
        goto error;
    }
    st->pid = getpid();
    st->dev = info.st_dev;
    st->ino = info.st_ino;
    st->file_size = data_end;
    st->data_end = data_end;
    st->image_start = data_end;
    st->broken = 0;
    if (st->code_index <= max_index) {
        st->code_index = max_index + 1;
    }
    return 0;

error:
    /* Not ours to remove: it holds the records of the earlier image. */
    (void)close(fd);
    return -1;
}

/* Whether the dump at path (info: what lstat() found) was created by this
   process (an image of it before an exec()): 1 if its header is a jitdump
   header of this pid created (its CLOCK_MONOTONIC timestamp) since the
   process started, or if the file was written to well after the start
   (an exec() into another time namespace, or a suspend, shifts
   CLOCK_MONOTONIC against the start computed from it; a dead process
   with our pid stopped writing before we started); 0 if neither (a dead
   process that had the same pid, however recently: a container's pid 1
   restarted within a second); -1 if there is no such header or the start
   time is unknown (then the modification time alone decides, with a
   second of slack). */
static int
created_by_this_process(const char *path, const struct stat *info)
{
    jitdump_header header;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return -1;
    }
    int ok = read_all_at(fd, 0, &header, sizeof(header)) == 0;
    (void)close(fd);
    double start = _PyPerf_ProcessStartTime(CLOCK_MONOTONIC);
    if (!ok || start < 0 || header.magic != JITDUMP_MAGIC
        || header.total_size != sizeof(header)
        || header.pid != (uint32_t)getpid())
    {
        return -1;
    }
    /* The start is rounded down to a clock tick: a header written by this
       process is never earlier. */
    if ((double)header.timestamp / 1e9 >= start) {
        return 1;
    }
    double real_start = _PyPerf_ProcessStartTime(CLOCK_REALTIME);
    double mtime = (double)info->st_mtim.tv_sec
                   + info->st_mtim.tv_nsec / 1e9;
    /* 20 ms: twice the tick that the start time is rounded down to. */
    return real_start >= 0 && mtime > real_start + 0.02;
}

/* O_EXCL found /tmp/jit-<pid>.dump taken.  A regular file of our own user
   there that was created before this process started (its header says
   when, see created_by_this_process()) is a leftover of an earlier process
   that had the same pid (pids are recycled; dumps stay behind on
   purpose): remove it, so that profiling is not refused for the life of
   this process, and return 0.  One created since was created by this
   process's image before an exec(): continue it
   (continue_file()) and return 1.  Anything else (a symlink, a FIFO,
   another user's file, a file that is not this pid's jitdump) is left
   alone and refused: -1 with the error set.  unlink() never follows a
   symlink, and if the name is replaced between the check and the unlink,
   the O_EXCL create that follows fails: nothing is ever written through a
   planted name.  (Unlinking a hard link leaves the file it names alone.) */
static int
open_existing(perf_jit_state *st)
{
    struct stat info;
    if (!is_own_regular_file(st->path, &info)) {
        return -1;
    }
    int lineage = created_by_this_process(st->path, &info);
    if (lineage > 0
        || (lineage < 0 && !_PyPerf_WrittenBeforeStart(&info)))
    {
        return continue_file(st, &info) < 0 ? -1 : 1;
    }
    if (unlink(st->path) < 0) {
        _PyPerf_SetError("cannot remove %s, left by an earlier process "
                         "with the same pid: %s", st->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Create /tmp/jit-<pid>.dump for the current process, write the header
   and map the first page. */
static int
create_file(perf_jit_state *st)
{
    pid_t pid = getpid();
    (void)snprintf(st->path, sizeof(st->path), "/tmp/jit-%ld.dump",
                   (long)pid);
    /* O_RDWR, not O_WRONLY: mmap() needs a readable descriptor.  O_EXCL
       fails on any existing name, symlinks included; O_NOFOLLOW says so
       once more. */
    int fd = open(st->path,
                  O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        int existing = open_existing(st);
        if (existing != 0) {
            if (existing < 0) {
                st->path[0] = '\0';
            }
            return existing < 0 ? -1 : 0;
        }
        fd = open(st->path,
                  O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
            _PyPerf_SetError("%s was created again by someone else right "
                             "after its leftover was removed; refusing to "
                             "use it", st->path);
            st->path[0] = '\0';
            return -1;
        }
    }
    if (fd < 0) {
        _PyPerf_SetError("cannot create %s: %s", st->path, strerror(errno));
        st->path[0] = '\0';
        return -1;
    }
    st->fd = fd;
    st->pid = pid;

    jitdump_header header;
    memset(&header, 0, sizeof(header));
    header.magic = JITDUMP_MAGIC;
    header.version = JITDUMP_VERSION;
    header.total_size = sizeof(header);
    header.elf_mach = _PyPerf_ELF_MACHINE;
    header.pad1 = 0;
    header.pid = (uint32_t)pid;
    header.timestamp = monotonic_ns();
    header.flags = 0;

    struct stat info;
    if (write_all_at(fd, 0, &header, sizeof(header)) < 0) {
        _PyPerf_SetError("cannot write %s: %s",
                         st->path, strerror(errno));
        goto error;
    }
    if (fstat(fd, &info) < 0) {
        _PyPerf_SetError("cannot stat %s: %s",
                         st->path, strerror(errno));
        goto error;
    }
    /* The header first, then the mapping: the mapped page is never
       entirely beyond the end of the file. */
    if (map_marker(st) < 0) {
        goto error;
    }
    st->dev = info.st_dev;
    st->ino = info.st_ino;
    st->file_size = sizeof(header);
    st->data_end = sizeof(header);
    st->image_start = sizeof(header);
    st->broken = 0;
    return 0;

error:
    /* This process created the file, so it is ours to remove: perf has no
       use for a file it never saw mapped, and it would block the name. */
    (void)unlink(st->path);
    (void)close(fd);
    st->fd = -1;
    st->pid = 0;
    st->path[0] = '\0';
    return -1;
}

/* Reopen the file this process created and closed with close(), if the
   name still leads to it.  The CODE_CLOSE at its end is cut off, so it
   stays the last record. */
static int
reopen_file(perf_jit_state *st)
{
    int fd = open(st->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        _PyPerf_SetError("cannot reopen %s: %s",
                         st->path, strerror(errno));
        return -1;
    }
    struct stat info;
    if (fstat(fd, &info) < 0) {
        _PyPerf_SetError("cannot stat %s: %s",
                         st->path, strerror(errno));
        (void)close(fd);
        return -1;
    }
    if (!S_ISREG(info.st_mode) || info.st_dev != st->dev
        || info.st_ino != st->ino || info.st_size != st->file_size)
    {
        _PyPerf_SetError("%s was replaced or changed since it "
                         "was closed; refusing to use it", st->path);
        (void)close(fd);
        return -1;
    }
    if (!_PyPerf_HasOneName(st->path, &info)) {
        /* Someone gave our dump a second name since it was created: the
           inode is no longer this writer's alone. */
        (void)close(fd);
        return -1;
    }
    if (st->data_end != st->file_size) {
        if (ftruncate(fd, st->data_end) < 0) {
            _PyPerf_SetError("cannot truncate %s: %s",
                             st->path, strerror(errno));
            (void)close(fd);
            return -1;
        }
        st->file_size = st->data_end;
    }
    /* The mapping made at creation is still there. */
    st->fd = fd;
    return 0;
}


/* ---- Fork ---- */

/* Hand parent records in buf[0:*len] over to the current process: check
   that they are whole records, drop any CODE_CLOSE, and put the current
   pid and tid in each CODE_LOAD.  Return -1 if they are malformed. */
static int
rebase_records(char *buf, size_t *len, uint32_t pid, uint32_t tid)
{
    size_t in = 0, out = 0;
    while (in < *len) {
        jitdump_prefix prefix;
        if (*len - in < sizeof(prefix)) {
            return -1;
        }
        memcpy(&prefix, buf + in, sizeof(prefix));
        if (prefix.total_size < sizeof(prefix)
            || prefix.total_size > *len - in
            || prefix.id > JIT_CODE_UNWINDING_INFO)
        {
            return -1;
        }
        size_t size = prefix.total_size;
        if (prefix.id != JIT_CODE_CLOSE) {
            memmove(buf + out, buf + in, size);
            if (prefix.id == JIT_CODE_LOAD) {
                jitdump_code_load load;
                if (size < sizeof(load)) {
                    return -1;
                }
                memcpy(&load, buf + out, sizeof(load));
                load.pid = pid;
                load.tid = tid;
                memcpy(buf + out, &load, sizeof(load));
            }
            out += size;
        }
        in += size;
    }
    *len = out;
    return 0;
}

/* Set the timestamp of every record in buf[0:len], checked by
   rebase_records(), to now. */
static void
restamp_records(char *buf, size_t len, uint64_t now)
{
    size_t off = 0;
    while (off < len) {
        jitdump_prefix prefix;
        memcpy(&prefix, buf + off, sizeof(prefix));
        prefix.timestamp = now;
        memcpy(buf + off, &prefix, sizeof(prefix));
        off += prefix.total_size;
    }
}

/* Persist-after-fork, in the child: create the child's file and start it
   with the records the parent had at fork time, those on disk followed by
   those still buffered.  The parent's file is only read: through the
   inherited descriptor if the parent's output was open, else by name
   after checking that it is still the parent's file. */
static int
copy_parent_output(perf_jit_state *st)
{
    int fd = st->fd;
    int own_fd = 0;
    size_t disk = 0;
    if (st->data_end > (off_t)sizeof(jitdump_header)) {
        disk = (size_t)(st->data_end - (off_t)sizeof(jitdump_header));
    }
    if (fd < 0 && disk > 0) {
        struct stat info;
        fd = open(st->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &info) < 0 || !S_ISREG(info.st_mode)
            || info.st_dev != st->dev || info.st_ino != st->ino
            || info.st_size < st->data_end)
        {
            _PyPerf_SetError("cannot read the parent's %s",
                             st->path);
            if (fd >= 0) {
                (void)close(fd);
            }
            goto error;
        }
        own_fd = 1;
    }

    size_t pending = st->buf_len;
    if (buffer_reserve(st, disk) < 0) {
        goto error;
    }
    if (pending > 0) {
        memmove(st->buf + disk, st->buf, pending);
    }
    st->buf_len = 0;
    if (disk > 0
        && read_all_at(fd, sizeof(jitdump_header), st->buf, disk) < 0)
    {
        _PyPerf_SetError("cannot read the parent's %s: %s",
                         st->path, strerror(errno));
        goto error;
    }
    st->buf_len = disk + pending;
    if (rebase_records(st->buf, &st->buf_len, (uint32_t)getpid(),
                       (uint32_t)PyThread_get_thread_native_id()) < 0)
    {
        _PyPerf_SetError("the parent's %s is malformed; "
                         "not copying it", st->path);
        goto error;
    }

    /* Done with the parent's file. */
    if (own_fd) {
        (void)close(fd);
        own_fd = 0;
    }
    if (st->fd >= 0) {
        (void)close(st->fd);
        st->fd = -1;
    }
    st->pid = 0;
    if (create_file(st) < 0) {
        goto error;
    }
    /* Not older than the child's header, nor than its fork. */
    restamp_records(st->buf, st->buf_len, monotonic_ns());
    return flush_buffer(st);

error:
    if (own_fd) {
        (void)close(fd);
    }
    drop_inherited_output(st);
    return -1;
}


/* ---- Backend callbacks ---- */

static int
open_locked(void)
{
    perf_jit_state *st = &perf_jit;
    pid_t pid = getpid();
    if (st->pid != 0 && st->pid != pid) {
        /* A fork child whose manager did not call after_fork_child(). */
        drop_inherited_output(st);
    }
    if (st->fd >= 0) {
        return 0;
    }
    if (st->pid == pid) {
        return reopen_file(st);
    }
    return create_file(st);
}

static int
write_code_locked(const _PyPerf_CodeInfo *info)
{
    Py_BUILD_ASSERT(sizeof(jitdump_header) == 40);
    Py_BUILD_ASSERT(sizeof(jitdump_prefix) == 16);
    Py_BUILD_ASSERT(sizeof(jitdump_code_load) == 56);
    Py_BUILD_ASSERT(sizeof(jitdump_debug_info) == 32);
    Py_BUILD_ASSERT(sizeof(jitdump_debug_entry) == 16);
    Py_BUILD_ASSERT(sizeof(jitdump_unwinding_info) == 40);

    perf_jit_state *st = &perf_jit;
    if (_PyPerfFlusher_TakeError(&st->flusher) < 0 || open_locked() < 0) {
        return -1;
    }

    byte_writer unwind;
    size_t eh_frame_size = build_unwind_data(&unwind, info->code_size);
    if (eh_frame_size == 0) {
        _PyPerf_SetError("cannot describe %zu bytes of code in a jitdump",
                         info->code_size);
        return -1;
    }

    /* A line table needs a file name; without one, no CODE_DEBUG_INFO. */
    size_t filename_size = strlen(info->filename) + 1;
    int with_lines = filename_size > 1;
    size_t name_size = strlen(info->name) + 1;
    /* Record sizes, padding included. */
    size_t debug_rec = 0;
    if (with_lines) {
        debug_rec = align_record(sizeof(jitdump_debug_info)
                                 + 2 * (sizeof(jitdump_debug_entry)
                                        + filename_size));
    }
    size_t unwind_rec = align_record(sizeof(jitdump_unwinding_info)
                                     + unwind.len);
    size_t load_rec = align_record(sizeof(jitdump_code_load) + name_size
                                   + info->code_size);
    if (debug_rec > UINT32_MAX || load_rec > UINT32_MAX) {
        _PyPerf_SetError("name too long for a jitdump record");
        return -1;
    }
    /* Reserve first: the three records go into the buffer together. */
    if (buffer_reserve(st, debug_rec + unwind_rec + load_rec) < 0) {
        return -1;
    }

    uint64_t now = monotonic_ns();
    uint64_t code_addr = (uint64_t)(uintptr_t)info->code_addr;
    size_t start;

    /* CODE_DEBUG_INFO.  perf 6.1 ends the line sequence at the address of
       the last entry, so a single entry at the start would cover no byte:
       a second one at the end of the code closes the range. */
    if (with_lines) {
        start = st->buf_len;
        jitdump_debug_info debug = {
            .p = {.id = JIT_CODE_DEBUG_INFO,
                  .total_size = (uint32_t)debug_rec, .timestamp = now},
            .code_addr = code_addr,
            .nr_entry = 2,
        };
        jitdump_debug_entry entry = {
            .addr = code_addr,
            .lineno = info->lineno > 0 ? (uint32_t)info->lineno : 0,
            .discrim = 0,
        };
        buffer_append(st, &debug, sizeof(debug));
        buffer_append(st, &entry, sizeof(entry));
        buffer_append(st, info->filename, filename_size);
        entry.addr = code_addr + info->code_size;
        buffer_append(st, &entry, sizeof(entry));
        buffer_append(st, info->filename, filename_size);
        buffer_append_zeros(st, debug_rec - (st->buf_len - start));
    }

    /* CODE_UNWINDING_INFO */
    start = st->buf_len;
    jitdump_unwinding_info unwinding = {
        .p = {.id = JIT_CODE_UNWINDING_INFO,
              .total_size = (uint32_t)unwind_rec, .timestamp = now},
        .unwinding_size = unwind.len,
        .eh_frame_hdr_size = unwind.len - eh_frame_size,
        .mapped_size = unwind_mapped_size(info->code_size, unwind.len),
    };
    buffer_append(st, &unwinding, sizeof(unwinding));
    buffer_append(st, unwind.data, unwind.len);
    buffer_append_zeros(st, unwind_rec - (st->buf_len - start));

    /* CODE_LOAD: the padding goes between the name and the code. */
    jitdump_code_load load = {
        .p = {.id = JIT_CODE_LOAD, .total_size = (uint32_t)load_rec,
              .timestamp = now},
        .pid = (uint32_t)st->pid,
        .tid = (uint32_t)PyThread_get_thread_native_id(),
        .vma = code_addr,
        .code_addr = code_addr,
        .code_size = info->code_size,
        .code_index = st->code_index++,
    };
    buffer_append(st, &load, sizeof(load));
    buffer_append(st, info->name, name_size);
    buffer_append_zeros(st, load_rec - sizeof(load) - name_size
                            - info->code_size);
    buffer_append(st, info->code_addr, info->code_size);

    if (st->buf_len >= PERF_JIT_BUFFER_LIMIT) {
        return flush_buffer(st);
    }
    buffer_dirty(st);
    return 0;
}

static int
flush_locked(void)
{
    perf_jit_state *st = &perf_jit;
    if (st->pid != getpid()) {
        /* Nothing of this process yet (a fork child). */
        if (st->pid != 0) {
            drop_inherited_output(st);
        }
        return 0;
    }
    int res = flush_buffer(st);
    return _PyPerfFlusher_TakeError(&st->flusher) < 0 ? -1 : res;
}

/* The CODE_LOADs of this process's dump, up to its last complete record
   (a failed write was cut back to it, or the dump is "broken" and never
   written again, so nothing needs describing). */
static int
scan_written_locked(_PyPerf_FoundFunc found, void *arg)
{
    perf_jit_state *st = &perf_jit;
    uint64_t max_index;
    if (st->pid != getpid() || st->fd < 0 || st->broken) {
        return -1;
    }
    return scan_records(st->fd, (off_t)st->file_size, &max_index, found,
                        (off_t)st->image_start, arg) < 0 ? -1 : 0;
}

static int
close_locked(void)
{
    perf_jit_state *st = &perf_jit;
    _PyPerfFlusher_Stop(&st->flusher);
    if (st->pid != getpid()) {
        if (st->pid != 0) {
            drop_inherited_output(st);
        }
        return 0;
    }
    if (st->fd < 0) {
        return 0;               /* closed already */
    }
    int res = _PyPerfFlusher_TakeError(&st->flusher);
    jitdump_prefix close_record = {
        .id = JIT_CODE_CLOSE,
        .total_size = sizeof(close_record),
        .timestamp = monotonic_ns(),
    };
    if (buffer_reserve(st, sizeof(close_record)) < 0) {
        /* No room for CODE_CLOSE: write the records at least. */
        (void)flush_buffer(st);
        res = -1;
    }
    else {
        buffer_append(st, &close_record, sizeof(close_record));
        off_t records_end = st->file_size + (off_t)st->buf_len
                            - (off_t)sizeof(close_record);
        if (flush_buffer(st) < 0) {
            res = -1;
        }
        else {
            st->data_end = records_end;
        }
    }
    /* Records that could not be written are dropped at shutdown; the file
       still ends on a record boundary. */
    buffer_free(st);
    (void)close(st->fd);
    st->fd = -1;
    return res;
}

static int
after_fork_child_locked(int persist)
{
    perf_jit_state *st = &perf_jit;
    if (st->pid == getpid()) {
        return 0;               /* not a child of the output's owner */
    }
    if (st->pid == 0) {
        /* The parent had no file; a buffer without a file is empty. */
        buffer_free(st);
        return 0;
    }
    if (!persist || st->broken) {
        /* The child's own file comes with its first open() or
           write_code(). */
        drop_inherited_output(st);
        return 0;
    }
    return copy_parent_output(st);
}

/* The backend's callbacks run with the GIL held, but the flusher thread
   does not take it: each takes the lock.  In a fork child that
   PyOS_AfterFork_Child() has not seen, the lock may be held by a thread
   that does not exist there (the flusher, if the fork bypassed
   PyOS_BeforeFork()): only the forking thread does, and it makes the lock
   fresh first. */
static perf_jit_state *
lock_state(void)
{
    perf_jit_state *st = &perf_jit;
    if (st->pid != 0 && st->pid != (long)getpid()) {
        _PyPerfFlusher_AfterForkChild(&st->flusher, &st->lock);
    }
    pthread_mutex_lock(&st->lock);
    return st;
}

static int
perf_jit_open(void)
{
    perf_jit_state *st = lock_state();
    int res = open_locked();
    pthread_mutex_unlock(&st->lock);
    return res;
}

static int
perf_jit_write_code(const _PyPerf_CodeInfo *info)
{
    perf_jit_state *st = lock_state();
    int res = write_code_locked(info);
    pthread_mutex_unlock(&st->lock);
    return res;
}

static int
perf_jit_flush(void)
{
    perf_jit_state *st = lock_state();
    int res = flush_locked();
    pthread_mutex_unlock(&st->lock);
    return res;
}

static int
perf_jit_scan_written(_PyPerf_FoundFunc found, void *arg)
{
    perf_jit_state *st = lock_state();
    int res = scan_written_locked(found, arg);
    pthread_mutex_unlock(&st->lock);
    return res;
}

static int
perf_jit_close(void)
{
    perf_jit_state *st = lock_state();
    int res = close_locked();
    pthread_mutex_unlock(&st->lock);
    return res;
}

static int
perf_jit_after_fork_child(int persist)
{
    /* Only this thread exists now, and the flusher was stopped before
       fork(): a lock the forking thread held is made fresh. */
    perf_jit_state *st = &perf_jit;
    _PyPerfFlusher_AfterForkChild(&st->flusher, &st->lock);
    pthread_mutex_lock(&st->lock);
    int res = after_fork_child_locked(persist);
    pthread_mutex_unlock(&st->lock);
    return res;
}

void
_PyPerfJit_BeforeFork(void)
{
    /* A process with no other threads forks as one (qemu-user cannot fork
       one whose other threads run guest code); the child would not
       inherit the thread anyway.  The next record starts it again. */
    perf_jit_state *st = lock_state();
    _PyPerfFlusher_Stop(&st->flusher);
    pthread_mutex_unlock(&st->lock);
}

int
_PyPerfJit_MaybeFlush(void)
{
    perf_jit_state *st = &perf_jit;
    /* Unlocked peeks, cheapest first (this runs whenever a thread releases
       the GIL while records wait): a stale value only delays or advances
       a flush. */
    int64_t dirty = _PyRuntime.perf.dirty_ns;
    if (!st->flusher.error
        && (dirty == 0
            || (int64_t)monotonic_ns() - dirty < _PyPerf_FLUSH_DELAY_NS))
    {
        return 0;
    }
    if (st->pid != (long)getpid()) {
        /* A fork child that PyOS_AfterFork_Child() has not seen, with the
           parent's records: drop them (and dirty_ns) once, instead of
           coming back here at every release of the GIL. */
        return st->pid != 0 ? perf_jit_flush() : 0;
    }
    if (pthread_mutex_trylock(&st->lock) != 0) {
        return 0;
    }
    int res = _PyPerfFlusher_TakeError(&st->flusher);
    dirty = _PyRuntime.perf.dirty_ns;
    if (dirty != 0
        && (int64_t)monotonic_ns() - dirty >= _PyPerf_FLUSH_DELAY_NS
        && flush_buffer(st) < 0)
    {
        res = -1;
    }
    pthread_mutex_unlock(&st->lock);
    return res;
}

const _PyPerf_Backend _PyPerf_JitBackend = {
    "perf_jit",
    perf_jit_open,
    perf_jit_write_code,
    perf_jit_flush,
    perf_jit_close,
    perf_jit_after_fork_child,
    perf_jit_scan_written,
};

#endif  /* PY_HAVE_PERF_TRAMPOLINE */
