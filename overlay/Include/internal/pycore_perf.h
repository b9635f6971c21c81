/* Internal interface of the perf trampoline support.

   Three parts talk through this header:

   * the trampoline manager (Python/perf_trampoline.c) owns the arenas of
     machine-code stubs, maps each Python function identity to one stub,
     installs the evaluation hook, and handles activation, fork and
     finalization;
   * backends tell perf which address range belongs to which function: the
     perf map writer (Python/perf_map.c) and the jitdump writer
     (Python/perf_jit_trampoline.c).  A backend is a table of callbacks,
     _PyPerf_Backend, so adding one never touches the manager;
   * the evaluation loop (Python/ceval.c) enters a trampoline directly from
     its inlined-call paths when the hook is installed.

   Locking: every manager entry point and every backend callback runs with
   the GIL held (one GIL for all interpreters in 3.11).  Each writer also
   has a mutex of its own, which guards its state: the map's because
   PyUnstable_WritePerfMapEntry() may be called by foreign JITs from
   threads that do not hold the GIL, and both because each writer has a
   flusher thread (_PyPerfFlusher) that writes its buffer without the GIL.
   A few words are read without the mutex, where a stale value only delays
   or advances a flush: the writers' dirty_ns and flusher error flags (in
   PyEval_SaveThread() and the *_MaybeFlush() functions).
*/
#ifndef Py_INTERNAL_PERF_H
#define Py_INTERNAL_PERF_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

#include <stddef.h>               // size_t
#include <stdint.h>               // uint32_t, uint64_t

struct _PyInterpreterFrame;

/* The signature of the evaluator a trampoline calls through
   (_PyEval_EvalFrameDefault). */
typedef PyObject *(*_PyPerf_EvalFunc)(PyThreadState *,
                                      struct _PyInterpreterFrame *, int);

/* A trampoline: the stub in Python/asm_trampoline.S, copied into an arena.
   It calls eval(tstate, frame, throwflag) inside a native frame of its own
   and returns the result. */
typedef PyObject *(*_PyPerf_TrampolineFunc)(PyThreadState *,
                                            struct _PyInterpreterFrame *,
                                            int, _PyPerf_EvalFunc);

/* Layout of one arena slot.  Every slot holds a copy of the stub followed,
   at _PyPerf_SLOT_TAG_OFFSET, by its own 8-byte slot number (host endian),
   so that no two slots have identical bytes (perf derives a jitted image's
   build-id from its code bytes alone).  _PyPerf_SLOT_CODE_SIZE bytes from
   the slot start are reported to perf as the function's code.  A slot is
   128 bytes (256 on aarch64): perf 6.1 (libunwind) reads a jitted
   function's unwinding information through the address range behind its
   code, so the rest of the slot must be room for it (see
   Python/perf_jit_trampoline.c). */
#if defined(__x86_64__)
   /* endbr64; push %rbp; mov %rsp,%rbp; sub $512,%rsp; call *%rcx;
      nopl (%rax); leave; ret -- the call and the nop become "call rel32"
      when the evaluator is in reach (_PyPerf_STUB_CALL_OFFSET) */
#  define _PyPerf_STUB_SIZE 22
#  define _PyPerf_STUB_CALL_OFFSET 15
#  define _PyPerf_STUB_RETURN_OFFSET 20
#  define _PyPerf_SLOT_TAG_OFFSET 24
#  define _PyPerf_SLOT_SIZE 128
#  define _PyPerf_ELF_MACHINE 62        /* EM_X86_64 */
#elif defined(__aarch64__)
   /* bti c; paciasp; stp x29,x30,[sp,#-16]!; mov x29,sp; sub sp,sp,#512;
      blr x3; mov sp,x29; ldp x29,x30,[sp],#16; autiasp; ret */
#  define _PyPerf_STUB_SIZE 40
#  define _PyPerf_STUB_RETURN_OFFSET 24
#  define _PyPerf_SLOT_TAG_OFFSET 40
#  define _PyPerf_SLOT_SIZE 256         /* 48 bytes of code, 84 of CFI */
#  define _PyPerf_ELF_MACHINE 183       /* EM_AARCH64 */
#endif
#define _PyPerf_SLOT_CODE_SIZE (_PyPerf_SLOT_TAG_OFFSET + 8)

/* What the manager tells a backend about one trampoline. */
typedef struct {
    const void *code_addr;      /* first byte of the slot */
    size_t code_size;           /* _PyPerf_SLOT_CODE_SIZE */
    const char *name;           /* "py::<qualname>:<filename>", sanitized:
                                   printable, no newline, NUL-terminated */
    const char *filename;       /* co_filename, sanitized the same way */
    int lineno;                 /* co_firstlineno */
} _PyPerf_CodeInfo;

/* Called by a backend's scan_written() for each record in its file. */
typedef void (*_PyPerf_FoundFunc)(uintptr_t code_addr, const char *name,
                                  void *arg);

/* A backend.  Callbacks return 0 on success and -1 on failure, with a
   message recorded by _PyPerf_SetError(); they never raise and never
   abort.  All are called with the GIL held (the writers' flusher threads
   run without it, under the writer's own mutex). */
typedef struct {
    const char *name;           /* "perf" or "perf_jit" */
    /* Make sure the output for the current process (getpid()) is open. */
    int (*open)(void);
    /* Describe one trampoline; called once per trampoline per output. */
    int (*write_code)(const _PyPerf_CodeInfo *info);
    /* Push buffered data to the file. */
    int (*flush)(void);
    /* Finish the output at clean interpreter shutdown (flush; jitdump
       writes CODE_CLOSE).  The backend must accept open() afterwards. */
    int (*close)(void);
    /* In a fork child: drop the parent's output without writing to it
       (buffers are discarded, descriptors closed).  If persist is true the
       child's output starts as a copy of the parent's. */
    int (*after_fork_child)(int persist);
    /* Call found(code_addr, name, arg) for every record that this process
       image's file has (after a failure, which lost what was buffered but
       not what reached the file, or when a file is reopened), so that only
       the others are described again.  Returns -1 if the file cannot be
       read (then all are). */
    int (*scan_written)(_PyPerf_FoundFunc found, void *arg);
} _PyPerf_Backend;

extern const _PyPerf_Backend _PyPerf_MapBackend;
extern const _PyPerf_Backend _PyPerf_JitBackend;

/* Record a human-readable error for the manager's warning; printf-style. */
extern void _PyPerf_SetError(const char *format, ...);

/* Copy len bytes of UTF-8 from src to dst (which may be src), replacing
   each character that perf or a reader of the map could take for the end
   of a line with '?': ASCII control characters and DEL, the C1 controls
   U+0080..U+009F, U+2028 and U+2029 (str.splitlines() splits on them).
   Returns the number of bytes written, at most len. */
static inline size_t
_PyPerf_SanitizeName(char *dst, const char *src, size_t len)
{
    const unsigned char *s = (const unsigned char *)src;
    unsigned char high = 0;
    for (size_t i = 0; i < len; i++) {
        high |= s[i];
    }
    if (!(high & 0x80)) {
        /* All ASCII, the usual case: a loop the compiler vectorizes. */
        for (size_t i = 0; i < len; i++) {
            dst[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
        }
        return len;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f) {
            dst[n++] = '?';
        }
        else if (c == 0xc2 && i + 1 < len && s[i + 1] >= 0x80
                 && s[i + 1] <= 0x9f)
        {
            dst[n++] = '?';
            i += 1;
        }
        else if (c == 0xe2 && i + 2 < len && s[i + 1] == 0x80
                 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
        {
            dst[n++] = '?';
            i += 2;
        }
        else {
            dst[n++] = (char)c;
        }
    }
    return n;
}

/* perf map writer, shared by the "perf" backend and the PyUnstable_* perf
   map API (Python/perf_map.c).  Thread-safe. */
extern int _PyPerfMap_Open(void);
extern int _PyPerfMap_Write(const void *code_addr, size_t code_size,
                            const char *entry_name);
extern int _PyPerfMap_Flush(void);
extern int _PyPerfMap_Close(void);
extern void _PyPerfMap_BeforeFork(void);
extern void _PyPerfMap_AfterForkParent(void);
/* In a fork child: drop the parent's map; if persist, start the child's
   as a copy of it.  Returns 1 if the child's map is such a copy, 0 if
   nothing was copied (not persist, or the parent had no map open), -1 if
   the copy failed. */
extern int _PyPerfMap_AfterForkChild(int persist);
/* Whether the file st, at one of this pid's perf paths, was last written
   before this process started: the leftover of an earlier process with
   the same pid (Python/perf_map.c; the jitdump writer uses it too). */
struct stat;
extern int _PyPerf_WrittenBeforeStart(const struct stat *st);
/* Whether the file st at path has a single name; if not (a hard link
   made it appear at our path: writing would change the file it was
   linked from), record the error and return 0 (Python/perf_map.c). */
extern int _PyPerf_HasOneName(const char *path, const struct stat *st);
/* When this process started, in seconds on the clock clock_id (a
   clockid_t), or -1 if unknown (Python/perf_map.c). */
extern double _PyPerf_ProcessStartTime(int clock_id);
/* Flush if data has waited longer than the flush delay (cheap when clean).
   Returns -1 if a flush failed. */
extern int _PyPerfMap_MaybeFlush(void);
/* The same for the jitdump writer (Python/perf_jit_trampoline.c), and
   stopping its flusher thread before fork(). */
extern int _PyPerfJit_MaybeFlush(void);
extern void _PyPerfJit_BeforeFork(void);

#ifdef PY_HAVE_PERF_TRAMPOLINE
/* Code-extra index 0 belongs to the perf trampolines in every interpreter:
   init_interpreter() (Python/pystate.c) reserves it before anything else
   can request one.  A constant index leaves nothing to load or bounds-check
   in the lookup, and means the same thing in every interpreter, which
   matters for code objects that interpreters share (the frozen
   modules'). */
#define _PyPerf_CODE_EXTRA_INDEX 0

/* Frame records for inlined calls.

   A trampoline's only job is to put its own address into the chain of
   frame records that perf walks.  A C call does that, but costs a new
   activation of the evaluator per Python call (prologue, _PyCFrame,
   recursion check, epilogue).  For Python-to-Python calls, which 3.11
   runs "inlined" in the same activation, the evaluator instead writes
   the records itself:

   * The stub reserves _PyPerf_STUB_RESERVE bytes of stack between its own
     frame record and the evaluator's frame.  The hook, which enters every
     frame that has a trampoline through it, passes throwflag
     _PyPerf_ENTER_RESERVED to the stub (unless it is to throw into a
     generator), which tells the evaluator that it was called by a stub
     and may use that reserve; no other caller passes it.  ceval.c passes
     it to the hook when it enters a frame through a trampoline itself
     (perf_call).
   * The same records serve generators and coroutines that a for loop,
     yield from or await resumes in the evaluator's own activation
     (FOR_ITER_GEN and SEND_GEN, "Generators resumed inline" in ceval.c):
     a record is taken when the generator resumes and given back when it
     yields, returns or raises.
   * For each inlined call, the evaluator takes the record below the most
     recent one, moves its own saved frame pointer and return address
     there (the evaluator's frame record, read through
     __builtin_frame_address(0)), points its frame record at the new
     record and at the callee's trampoline (_PyPerf_STUB_RETURN_OFFSET
     into it, where a real call through the stub would return), and marks
     the callee's frame (_PyInterpreterFrame.perf_record).  An unwinder
     then reads evaluator -> py::callee -> py::caller -> ... -> the real
     caller, exactly as if each call had gone through its stub; the rules
     that the jitdump gives for the stub (CFA = frame pointer + 16) hold
     for every record.
   * The evaluator's own frame record always points to the most recent
     record, or, when none is in use, to the stub's frame record, which
     lies just above the reserve: the next record is the one below it
     either way, and the reserve is full when that would fall below the
     reserve's start.  Along the chain each record lies above the previous
     one and below the stub's own frame record: the walk always goes up
     the stack, as unwinders (gdb's among them) require.
   * When the evaluator pops a marked frame (return, unwinding, and a
     generator function's first frame becoming the generator's), it moves
     the two words of the most recent record back into its own frame
     record.  Only the activation that runs a frame pops it, so the record
     is always the popping activation's own, read through its own frame
     pointer: no per-thread state is involved, and a library that switches
     C stacks under a thread (greenlet) cannot make the evaluator read or
     write another stack's memory.  Were a pop ever missed, the
     activation's return would still be right: the stub's "leave; ret" at
     a record's return address unwinds records exactly like stub frames.
   * When the reserve is full, the call goes through a trampoline again,
     and the new activation has a reserve of its own.
   * Perf-map and jitdump consumers see the same addresses either way;
     the stub's code at the return offset is never executed for a
     record, but its unwinding rules describe the record exactly. */
typedef struct _PyPerfFrameRecord {
    void *caller_fp;            /* frame record: the next frame pointer */
    void *return_address;       /* frame record: the return address */
} _PyPerfFrameRecord;

#define _PyPerf_INLINE_RECORDS 32
#define _PyPerf_STUB_RESERVE 512    /* the stub's "sub $512"; checked */
#define _PyPerf_ENTER_RESERVED 0x50524553   /* throwflag: "called by a
                                               stub, use its reserve" */

_Static_assert(_PyPerf_INLINE_RECORDS * sizeof(_PyPerfFrameRecord)
               == _PyPerf_STUB_RESERVE,
               "the records must fill the stub's reserve: the stub's frame "
               "record follows the last one");
_Static_assert(_PyPerf_STUB_RESERVE % 16 == 0,
               "the stub must keep the stack 16-byte aligned");

/* One trampoline, shared by every code object of one function identity
   (Python/perf_trampoline.c).  Code-extra slot 0 of a code object points
   to it once the code object has been entered through it. */
typedef struct _PyPerfTrampoline {
    /* entry + _PyPerf_STUB_RETURN_OFFSET, the return address of a frame
       record for this trampoline, while it has been described to the
       current output (written_gen == _PyRuntime.perf.output_gen); NULL
       otherwise.  The fast paths test only this. */
    char *ready;
    _PyPerf_TrampolineFunc entry;   /* slot in an arena */
    uint32_t written_gen;           /* output that has this record */
    uint32_t other_gen;             /* the same for the other backend's
                                       output (see switch_outputs()) */
    int lineno;                     /* co_firstlineno */
    Py_hash_t hash;
    struct _PyPerfTrampoline *next; /* same bucket */
    char *filename;                 /* points into name */
    char name[1];                   /* "py::qualname:filename\0" */
} _PyPerfTrampoline;

/* The trampoline of a code object, described to the current output or
   not, or NULL.  ce_size needs no check: co_extra is only ever allocated
   by _PyCode_SetExtra(), with ce_size = co_extra_user_count, and that is
   at least 1 in every interpreter (_PyPerf_CODE_EXTRA_INDEX is 0).  A
   macro: _PyCodeObjectExtra (pycore_code.h) is not declared here. */
#define _PyPerf_CODE_TRAMPOLINE(co) \
    ((co)->co_extra == NULL ? NULL \
     : (_PyPerfTrampoline *)((_PyCodeObjectExtra *)(co)->co_extra) \
           ->ce_extras[_PyPerf_CODE_EXTRA_INDEX])

/* Whether the trampoline t (or NULL) exists and has been described to the
   current output: the test of the hook's and ceval.c's fast paths. */
#define _PyPerf_TRAMPOLINE_READY(t) ((t) != NULL && (t)->ready != NULL)

/* Per thread: trampolines are entered only while the C stack pointer is
   above this address.  Deeper, ceval.c inlines Python-to-Python calls
   without a record (pure-Python recursion needs no C stack in 3.11, and
   must not start to need it), and the hook runs frames entered from C
   without a stub, as without perf support: the deepest part of a deep
   recursion costs no more C stack than it would without perf support.
   0 until _PyPerf_EnterSlow() first runs in the thread and sets it from
   the thread's stack bounds (ceval.c's test takes 0 for "not too deep",
   which sends the call to the hook, whose own copy of the limit sends it
   there). */
extern __thread uintptr_t _PyPerf_stack_limit
    __attribute__((tls_model("initial-exec")));

/* The evaluation hook installed in PyInterpreterState.eval_frame while a
   backend is active.  ceval.c compares against it to keep inlined calls. */
extern PyObject *_PyPerf_EvalFrame(PyThreadState *tstate,
                                   struct _PyInterpreterFrame *frame,
                                   int throwflag);

/* Everything but the common case of _PyPerf_EvalFrame(): the thread's
   stack limit is not known yet or has been reached, the code object has no
   trampoline yet, or it has not been described to the current output.
   Creates and describes the trampoline and enters the frame through it,
   or, if that fails, reports once and evaluates the frame without one.
   Near the end of the C stack, raises RecursionError instead of entering
   the frame (see Python/perf_trampoline.c). */
extern PyObject *_PyPerf_EnterSlow(PyThreadState *tstate,
                                   struct _PyInterpreterFrame *frame,
                                   int throwflag);
#endif

/* Startup (-X perf, -X perf_jit, PYTHONPERFSUPPORT,
   PYTHON_PERF_JIT_SUPPORT). */
extern PyStatus _PyPerf_ReadConfig(const PyConfig *config, int *backend);
extern PyStatus _PyPerf_InitInterpreter(PyThreadState *tstate);

/* Lifecycle hooks. */
extern void _PyPerf_Fini(void);                /* Py_FinalizeEx() */
extern void _PyPerf_FlushAll(void);            /* os._exit() */
/* Flush data that has waited long enough; called when a thread releases
   the GIL if dirty_ns or map.dirty_ns is set. */
extern void _PyPerf_MaybeFlush(void);
extern void _PyPerf_BeforeFork(void);
extern void _PyPerf_AfterForkParent(void);
extern void _PyPerf_AfterForkChild(void);

/* sys.activate_stack_trampoline() and friends.  Return -1 with an
   exception set on error. */
extern int _PyPerf_Activate(PyThreadState *tstate, const char *backend);
extern int _PyPerf_Deactivate(PyThreadState *tstate);
extern int _PyPerf_IsActive(PyThreadState *tstate);

/* Test support: the trampoline of a code object, or NULL. */
PyAPI_FUNC(void *) _PyPerf_TrampolineAddress(PyCodeObject *co);

/* Runtime state, in _PyRuntime.perf. */
struct _PyPerfTrampoline;
struct _PyPerfArena;

#ifdef PY_HAVE_PERF_TRAMPOLINE
#  include <pthread.h>            // pthread_mutex_t

/* How long data may wait in a writer's buffer. */
#  define _PyPerf_FLUSH_DELAY_NS (50 * 1000 * 1000)

/* A writer's flusher thread (Python/perf_map.c): writes the writer's
   buffer out _PyPerf_FLUSH_DELAY_NS after it became non-empty, so that the
   file is current while the process runs, even one that never blocks or
   releases the GIL.  One per writer (the map, the jitdump); all fields are
   guarded by the writer's lock, except that 'error' is also peeked at
   without it (see the locking note at the top), and that a fork child
   makes the lock fresh (_PyPerfFlusher_AfterForkChild()).

   A flush by the thread that fails sets 'error' and sets *dirty_ns to 1, a
   time long past: the next thread that releases the GIL then calls the
   writer's *_MaybeFlush(), which takes the error and has the manager
   report it (report_flush_failure_later() in Python/perf_trampoline.c).
   The thread sleeps until then. */
typedef struct _PyPerfFlusher {
    pthread_mutex_t *lock;      /* the writer's lock, held while flushing */
    int64_t *dirty_ns;          /* when the writer's buffer became
                                   non-empty, or 0 */
    int (*flush)(void);         /* writes the buffer out and clears
                                   *dirty_ns, lock held; -1 on failure */
    pthread_cond_t wake;        /* signalled when the buffer becomes
                                   non-empty, and to stop the thread */
    pthread_t thread;
    long pid;                   /* the process that runs it, 0 if none,
                                   -1 if it could not be started, -2
                                   while a thread joins it */
    int stop;                   /* asks it to exit */
    int error;                  /* a flush by the thread failed, not yet
                                   reported */
} _PyPerfFlusher;

/* The writer's buffer just became non-empty (*dirty_ns was set): wake the
   thread, or start it in this process (pid) if it does not run yet; a
   failure to start it is not an error (the other flush points remain) and
   is not retried.  Lock held. */
extern void _PyPerfFlusher_Notify(_PyPerfFlusher *f, pthread_mutex_t *lock,
                                  int64_t *dirty_ns, int (*flush)(void),
                                  long pid);
/* Stop and join the thread if this process runs it: before fork() and
   when the writer closes.  Lock held; released while joining. */
extern void _PyPerfFlusher_Stop(_PyPerfFlusher *f);
/* -1, once, if a flush by the thread failed.  Lock held. */
extern int _PyPerfFlusher_TakeError(_PyPerfFlusher *f);
/* In a fork child, where only the forking thread exists: make the
   writer's lock fresh (a thread that does not exist here may have held
   it).  There is no flusher thread (stopped before fork(), or never
   inherited), a failed flush is the parent's, and so is a failure to
   start the thread: the child tries again. */
extern void _PyPerfFlusher_AfterForkChild(_PyPerfFlusher *f,
                                          pthread_mutex_t *lock);
#endif

/* The perf map writer (Python/perf_map.c). */
struct _perf_map_state {
#ifdef PY_HAVE_PERF_TRAMPOLINE
    pthread_mutex_t lock;       /* guards everything below */
#endif
    int fd;                     /* /tmp/perf-<pid>.map, or -1 */
    long pid;                   /* the process fd was opened for */
    char *buf;                  /* pending whole lines */
    size_t len;
    int64_t dirty_ns;           /* when buf became non-empty, or 0 */
#ifdef PY_HAVE_PERF_TRAMPOLINE
    _PyPerfFlusher flusher;
#endif
};

/* The jitdump writer (Python/perf_jit_trampoline.c). */
struct _perf_jit_state {
#ifdef PY_HAVE_PERF_TRAMPOLINE
    /* Guards everything below, and _PyRuntime.perf.dirty_ns: the flusher
       thread writes the buffer without the GIL. */
    pthread_mutex_t lock;
    _PyPerfFlusher flusher;
#endif
    /* Descriptor of this process's dump, or -1. */
    int fd;
    /* The process that created the file named by 'path', or 0.  In a fork
       child it is the parent's pid until after_fork_child() runs. */
    long pid;
    char path[64];
    /* Identity of the file this process created, checked on reopening. */
    uint64_t dev;
    uint64_t ino;
    /* End of the complete records on disk (file_size), and end of the
       last one that is not the final CODE_CLOSE (data_end). */
    int64_t file_size;
    int64_t data_end;
    /* The PROT_EXEC mapping of the first page of 'path'; never unmapped.
       In a fork child it may be the parent's, also left alone. */
    void *marker;
    /* Complete records not written yet. */
    char *buf;
    size_t buf_len;
    size_t buf_size;
    /* code_index of the next CODE_LOAD. */
    uint64_t code_index;
    /* Where the records of this process image start: after the header, or
       where an earlier image's records end in a dump continued after
       exec() (its addresses mean nothing in this image). */
    int64_t image_start;
    /* A failed write could not be truncated away: the file ends with a
       torn record and is never written again. */
    int broken;
};

#ifdef PY_HAVE_PERF_TRAMPOLINE
#  define _perf_map_state_INIT \
    { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, }
#  define _perf_jit_state_INIT \
    { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .code_index = 1, }
#else
#  define _perf_map_state_INIT { .fd = -1, }
#  define _perf_jit_state_INIT { .fd = -1, .code_index = 1, }
#endif

struct _perf_runtime_state {
    /* Backend writing now, or NULL. */
    const _PyPerf_Backend *backend;
    /* The backend whose output output_gen counts: the current one, or the
       last one before _PyPerf_Fini(); NULL before the first activation. */
    const _PyPerf_Backend *last_backend;
    /* Trampolines whose written_gen equals this have been described to the
       current output; bumped whenever the output changes (and then every
       trampoline's 'ready' is brought in line, see sync_ready() in
       Python/perf_trampoline.c). */
    uint32_t output_gen;
    /* The same for the output of the backend that is not current (the map
       while perf_jit is current, and the other way round); see
       switch_outputs() in Python/perf_trampoline.c. */
    uint32_t other_output_gen;
    /* Set once the backend failed; the warning has been reported. */
    int failed;
    /* A flush failed where no warning can be issued (a thread releasing
       the GIL, or a writer's flusher thread, whose failure the next thread
       releasing the GIL notices): the next trampolined call takes the slow
       path and reports it there, and so does deactivation. */
    int flush_failed;
    int persist_after_fork;
    /* Set by _PyPerf_Fini(), cleared when the main interpreter starts
       again: activating in between (a __del__ run by the finalization)
       would write to buffers nobody flushes any more. */
    int finalized;
    /* When the jitdump writer's buffer became non-empty, or 0 (the map
       writer has its own, map.dirty_ns).  Written under jit.lock; here so
       that the test in PyEval_SaveThread() (Python/ceval.c) reads both. */
    int64_t dirty_ns;
    /* Identity table: (name, firstlineno) -> trampoline. */
    struct _PyPerfTrampoline **table;
    size_t table_size;          /* buckets, a power of two */
    size_t table_used;
    /* Arenas, newest first; never unmapped. */
    struct _PyPerfArena *arenas;
    uint64_t next_slot;         /* slot number of the next trampoline */
    uintptr_t arena_hint;       /* where to ask for the next arena, or 0 */
    char error[256];            /* last _PyPerf_SetError() message */
    struct _perf_map_state map;
    struct _perf_jit_state jit;
};

#define _perf_runtime_state_INIT \
    { \
        .output_gen = 1, \
        .other_output_gen = 1, \
        .map = _perf_map_state_INIT, \
        .jit = _perf_jit_state_INIT, \
    }

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_PERF_H */
