/* Perf trampolines: the manager.

   The problem.  perf(1) only sees native code.  Every Python function runs
   inside _PyEval_EvalFrameDefault(), so a profile shows that one symbol over
   and over and says nothing about which Python function was running.

   The mechanism.  While a backend is active, every Python function is
   entered through a small piece of machine code of its own, a trampoline:
   a copy of the stub in Python/asm_trampoline.S that builds a native frame
   and calls the evaluator.  Each copy lives at a distinct address, and a
   backend tells perf which Python function that address range belongs to
   (a perf map line, or a jitdump CODE_LOAD record).  A native call chain
   then reads evaluator -> py::foo -> evaluator -> py::bar -> ...

   Entering through a trampoline:
   * Frames entered by C code (calls from C, generators, coroutines, module
     bodies) reach _PyEval_EvalFrame(), which calls the interpreter's PEP 523
     hook.  The manager installs _PyPerf_EvalFrame() as that hook.
   * Python-to-Python calls are normally "inlined" by the evaluator (no C
     recursion).  An ordinary PEP 523 hook turns that off, and with it the
     specialized call instructions, which is most of the cost of upstream's
     design.  Here ceval.c keeps every specialized and inlined path when the
     installed hook is ours.  It does not call the new frame's trampoline
     either: it writes the frame record such a call would leave, pointing
     into the trampoline, in a stack reserve of the stub that called the
     current activation, and removes it when it pops the frame (see
     "Frame records for inlined calls" in pycore_perf.h).  Only when the
     reserve is full, or the activation has none (it was entered without
     a stub), does ceval.c call the trampoline, through the hook.  The
     hook tells every activation it enters through a stub that it may use
     the stub's reserve (_PyPerf_ENTER_RESERVED).
   * Generators and coroutines resumed by a for loop, yield from or await
     in code quickened while the hook is installed run in the resuming
     activation the same way, behind a frame record, rather than through
     the hook ("Generators resumed inline" in ceval.c).  Resumed by C
     code (next(), sum(), an asyncio task's step), they go through it.

   The C stack.  A stub and its reserve cost about 530 bytes of C stack
   per frame entered from C, and a call that ceval.c cannot give a record
   a stub and an evaluator activation, which 3.11 without perf support
   does not spend; nothing bounds C recursion but the recursion limit.  Past a
   quarter of the thread's stack from its end (_PyPerf_stack_limit), the
   hook enters frames without a stub and ceval.c inlines calls without a
   record, so the deepest part of a recursion costs what it costs without
   perf support.  A recursion through C that still gets within an eighth
   of the stack (at most 64 KiB) of its end gets RecursionError, as at the
   recursion limit, rather than a crash.  The limits are about the
   thread's own stack: code running on another stack (a fiber's, from
   malloc()) is not limited, though ceval.c may take it for "too deep"
   and inline calls there without records.

   Finding the trampoline of a code object costs a co_extra load: slot 0
   of every code object's extras is ours, reserved in every interpreter
   when it is created (so no activation cycle can run out of indices), and
   points to a _PyPerfTrampoline record.  The hook does the lookup, and
   _PyPerf_EnterSlow() everything else: creating and describing records,
   and learning a thread's stack limit.

   Sharing.  A trampoline belongs to a function identity, (co_qualname,
   co_filename, co_firstlineno), not to a code object: a program that execs
   the same source 100,000 times gets one trampoline, one map line and no
   growth of executable memory.  Identities are kept in a hash table keyed
   by the exact name perf shows plus the first line number.

   Outputs.  A record is written to the current output lazily, the first
   time its function is entered while that output is current.  Each output
   has a generation number (_PyRuntime.perf.output_gen); a record whose
   written_gen differs has not been described to it yet (its 'ready' is
   NULL, which is what the fast paths test).  A new generation
   starts when the backend changes and in a fork child (which writes its own
   file and describes only what it runs).

   Invariants.
   * Arenas are mapped read-write, filled with stub copies, then made
     read-execute once and never written or unmapped again: no thread can
     ever return into memory that went away or became non-executable
     (deactivation, finalization, daemon threads, fork children).
   * Records and the identity table are allocated with the C library's
     malloc() (like all perf support state: it outlives Py_Finalize(), and
     PyMem_RawMalloc()'s allocator can change across it) and live for the
     process lifetime; nobody may free them.  co_extra slots hold borrowed
     pointers.
   * Everything here runs with the GIL held.  A failure on the hot path
     never raises into Python code: the call runs untrampolined, the backend
     is marked failed, and one warning is reported through the unraisable
     hook.
*/

#include "Python.h"
#include "pycore_ceval.h"         // _PyEval_EvalFrameDefault()
#include "pycore_code.h"          // _PyCodeObjectExtra
#include "pycore_frame.h"         // _PyInterpreterFrame
#include "pycore_initconfig.h"    // _PyStatus_ERR(), _Py_GetEnv()
#include "pycore_interp.h"        // PyInterpreterState.eval_frame
#include "pycore_perf.h"          // _PyPerf_Backend
#include "pycore_pyerrors.h"      // _PyErr_Fetch()
#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_runtime.h"       // _PyRuntime

#include <stdarg.h>               // va_list
#include <stdio.h>                // vsnprintf()
#include <stdlib.h>               // strtol(), malloc(), calloc(), free()
#include <string.h>               // memcpy(), strcmp()

#ifdef PY_HAVE_PERF_TRAMPOLINE
#  include <errno.h>              // errno, EINVAL
#  include <pthread.h>            // pthread_getattr_np()
#  include <sys/mman.h>           // mmap(), mprotect()
#  include <unistd.h>             // sysconf()
#endif

#define perf_state (_PyRuntime.perf)

#define BACKEND_NAMES "'perf' or 'perf_jit'"

/* Branch hints for the per-call path (GCC and Clang; the trampolines are
   built only with those, see configure). */
#define LIKELY(x) __builtin_expect(!!(x), 1)


/* ------------------------------------------------------------------ */
/* Errors                                                             */

/* The writers may set the error without the GIL (their flusher threads,
   the map's C API callers), while a thread holding it formats a warning
   from it.  The message may then be garbled, but never unterminated: the
   last byte of the buffer is never written and stays '\0'. */
void
_PyPerf_SetError(const char *format, ...)
{
    va_list vargs;
    va_start(vargs, format);
    vsnprintf(perf_state.error, sizeof(perf_state.error) - 1, format, vargs);
    va_end(vargs);
}


/* ------------------------------------------------------------------ */
/* Startup options                                                    */

/* Parse a switch value: NULL (no "=N") means on; otherwise a decimal
   integer in [0, INT_MAX].  Returns 0 or 1, or -1 if invalid. */
static int
parse_switch(const char *value, int empty_is_off)
{
    if (value == NULL) {
        return 1;
    }
    if (*value == '\0') {
        return empty_is_off ? 0 : -1;
    }
    long result = 0;
    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        result = result * 10 + (*p - '0');
        if (result > INT_MAX) {
            return -1;
        }
    }
    return result != 0;
}

/* Find "-X name" or "-X name=value" in the -X options; the last occurrence
   wins, as for other -X options.  Returns 1 if found. */
static int
find_xoption(const PyConfig *config, const wchar_t *name,
             const wchar_t **value)
{
    int found = 0;
    size_t len = wcslen(name);
    for (Py_ssize_t i = 0; i < config->xoptions.length; i++) {
        const wchar_t *opt = config->xoptions.items[i];
        if (wcsncmp(opt, name, len) == 0
            && (opt[len] == L'\0' || opt[len] == L'='))
        {
            *value = opt[len] == L'=' ? opt + len + 1 : NULL;
            found = 1;
        }
    }
    return found;
}

/* Startup is single-threaded and a fatal error ends the process: a static
   buffer can hold the message of the returned status. */
static char option_error[200];

static PyStatus
option_status(void)
{
    PyStatus status = _PyStatus_ERR(option_error);
    status.func = "perf support";
    return status;
}

/* Copy an option's value of n characters (wide or narrow, the other NULL)
   into buf for a message: printable ASCII as is, anything else as '?', and
   a value too long for buf cut and marked with "...".  Returns 1 if it was
   copied whole. */
static int
shown_value(char *buf, size_t size, size_t n, const wchar_t *wide,
            const char *narrow)
{
    size_t i;
    for (i = 0; i < n && i < size - 4; i++) {
        unsigned long c = wide != NULL ? (unsigned long)wide[i]
                                       : (unsigned char)narrow[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    int whole = i == n;
    if (!whole) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return whole;
}

static PyStatus
read_xoption(const PyConfig *config, const wchar_t *name, int *found,
             int *on)
{
    const wchar_t *wvalue = NULL;
    *on = 0;
    *found = find_xoption(config, name, &wvalue);
    if (!*found) {
        return _PyStatus_OK();
    }
    int result = 1;
    if (wvalue != NULL) {
        /* Narrowed for parsing and for the message: anything that is not
           printable ASCII is invalid anyway. */
        char buf[40];
        size_t n = wcslen(wvalue);
        result = shown_value(buf, sizeof(buf), n, wvalue, NULL)
                 ? parse_switch(buf, 0) : -1;
        if (result < 0) {
            snprintf(option_error, sizeof(option_error),
                     "-X %ls=%s: invalid value; use -X %ls or -X %ls=1 (on), "
                     "-X %ls=0 (off)", name, buf, name, name, name);
            return option_status();
        }
    }
    *on = result;
    return _PyStatus_OK();
}

static PyStatus
read_env(const PyConfig *config, const char *name, int *on)
{
    *on = 0;
    const char *value = _Py_GetEnv(config->use_environment, name);
    if (value == NULL) {
        return _PyStatus_OK();
    }
    int result = parse_switch(value, 1);
    if (result < 0) {
        char buf[40];
        (void)shown_value(buf, sizeof(buf), strlen(value), NULL, value);
        snprintf(option_error, sizeof(option_error),
                 "%s=%s: invalid value; expected 0 or empty (off) or a "
                 "positive integer (on)", name, buf);
        return option_status();
    }
    *on = result;
    return _PyStatus_OK();
}

/* Decide the startup backend: 0 none, 1 perf, 2 perf_jit.  -X options
   beat the environment (if either -X option is given, the variables are
   not consulted); within one kind of switch perf_jit beats perf. */
PyStatus
_PyPerf_ReadConfig(const PyConfig *config, int *backend)
{
    int found_perf, found_jit, perf, jit;
    PyStatus status;
    *backend = 0;

    status = read_xoption(config, L"perf", &found_perf, &perf);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    status = read_xoption(config, L"perf_jit", &found_jit, &jit);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    if (!found_perf && !found_jit) {
        status = read_env(config, "PYTHONPERFSUPPORT", &perf);
        if (_PyStatus_EXCEPTION(status)) {
            return status;
        }
        status = read_env(config, "PYTHON_PERF_JIT_SUPPORT", &jit);
        if (_PyStatus_EXCEPTION(status)) {
            return status;
        }
    }
    *backend = jit ? 2 : (perf ? 1 : 0);
    return _PyStatus_OK();
}


#ifdef PY_HAVE_PERF_TRAMPOLINE

/* ------------------------------------------------------------------ */
/* Arenas                                                             */

/* Python/asm_trampoline.S */
extern const char _Py_trampoline_func_start[];
extern const uint64_t _Py_trampoline_func_size;
extern const uint64_t _Py_trampoline_reserve_size;

#define ARENA_SIZE (64 * 1024)

#ifndef PROT_BTI
#  define PROT_BTI 0x10           /* aarch64: enforce BTI landing pads */
#endif

typedef struct _PyPerfArena {
    struct _PyPerfArena *next;
    char *base;
    size_t nslots;
    size_t used;
} _PyPerfArena;

static int
make_executable(void *base, size_t size)
{
#if defined(__aarch64__)
    if (mprotect(base, size, PROT_READ | PROT_EXEC | PROT_BTI) == 0) {
        return 0;
    }
    if (errno != EINVAL) {
        return -1;
    }
    /* Kernel without BTI support: landing pads are simply not enforced. */
#endif
    return mprotect(base, size, PROT_READ | PROT_EXEC);
}

/* Where to map the next arena: just below the evaluator's code, and each
   arena below the previous one, rather than at the top of the address
   space, where mmap() puts anonymous mappings by default, tens of TiB
   away.  Every trampolined call crosses between the two four times (into
   the stub, into the evaluator, and the two returns), and branch
   predictors keep short target offsets.  Measured on an x86-64 VM, same
   binary, 6 x 12 interleaved rounds: generator pipeline perf/off 1.104
   with far arenas, 1.075 with near ones (every group lower); no
   difference for method calls.  It is only a hint: if the range is
   taken, the kernel maps the arena elsewhere and nothing else changes.
   ASLR still applies: the hint moves with the randomized load address. */
#define ARENA_HINT_GAP ((uintptr_t)64 * 1024 * 1024)

static void *
next_arena_hint(void)
{
    if (perf_state.arena_hint == 0) {
        uintptr_t text = (uintptr_t)(void *)_PyEval_EvalFrameDefault;
        text &= ~(uintptr_t)(ARENA_SIZE - 1);
        if (text < 2 * ARENA_HINT_GAP) {
            return NULL;    /* a low, non-PIE executable: no room below */
        }
        perf_state.arena_hint = text - ARENA_HINT_GAP;
    }
    else if (perf_state.arena_hint < ARENA_HINT_GAP) {
        return NULL;
    }
    void *hint = (void *)perf_state.arena_hint;
    perf_state.arena_hint -= ARENA_SIZE;
    return hint;
}

/* x86-64: replace the stub's "call *%rcx; nopl (%rax)" by "call rel32" to
   the evaluator when it is within reach of this copy: a direct call is
   cheaper than an indirect one, and the arenas are mapped near the
   evaluator for this (next_arena_hint()).  Both forms are 5 bytes and
   return to the same offset, so the unwinding information is the same.
   Measured on an x86-64 VM, same binary, 6 x 12 interleaved rounds,
   twice: generator pipeline perf/off 1.102 and 1.099 with the indirect
   call, 1.077 and 1.066 with the direct one. */
static void
direct_call(char *slot)
{
#if defined(__x86_64__)
    char *next = slot + _PyPerf_STUB_CALL_OFFSET + 5;
    intptr_t rel = (intptr_t)(void *)_PyEval_EvalFrameDefault
                   - (intptr_t)next;
    if (rel < INT32_MIN || rel > INT32_MAX) {
        return;
    }
    int32_t rel32 = (int32_t)rel;
    slot[_PyPerf_STUB_CALL_OFFSET] = (char)0xe8;          /* call rel32 */
    memcpy(slot + _PyPerf_STUB_CALL_OFFSET + 1, &rel32, sizeof(rel32));
#else
    (void)slot;
#endif
}

static _PyPerfArena *
new_arena(void)
{
    if (_Py_trampoline_func_size != _PyPerf_STUB_SIZE) {
        _PyPerf_SetError("perf trampoline: stub is %d bytes, expected %d",
                         (int)_Py_trampoline_func_size, _PyPerf_STUB_SIZE);
        return NULL;
    }
    if (_Py_trampoline_reserve_size != _PyPerf_STUB_RESERVE) {
        _PyPerf_SetError("perf trampoline: stub reserves %d bytes, "
                         "expected %d", (int)_Py_trampoline_reserve_size,
                         _PyPerf_STUB_RESERVE);
        return NULL;
    }
    _PyPerfArena *arena = calloc(1, sizeof(*arena));
    if (arena == NULL) {
        _PyPerf_SetError("perf trampoline: out of memory");
        return NULL;
    }
    char *base = mmap(next_arena_hint(), ARENA_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        _PyPerf_SetError("perf trampoline: cannot map %d bytes: %s",
                         ARENA_SIZE, strerror(errno));
        free(arena);
        return NULL;
    }
    size_t nslots = ARENA_SIZE / _PyPerf_SLOT_SIZE;
    for (size_t i = 0; i < nslots; i++) {
        char *slot = base + i * _PyPerf_SLOT_SIZE;
#if defined(__x86_64__)
        memset(slot, 0xcc, _PyPerf_SLOT_SIZE);      /* int3 */
#else
        memset(slot, 0, _PyPerf_SLOT_SIZE);         /* udf #0 */
#endif
        memcpy(slot, _Py_trampoline_func_start, _PyPerf_STUB_SIZE);
        direct_call(slot);
        /* The slot's own number makes its bytes unique. */
        uint64_t tag = perf_state.next_slot + i;
        memcpy(slot + _PyPerf_SLOT_TAG_OFFSET, &tag, sizeof(tag));
    }
    __builtin___clear_cache(base, base + ARENA_SIZE);
    if (make_executable(base, ARENA_SIZE) != 0) {
        _PyPerf_SetError("perf trampoline: cannot make arena executable: %s",
                         strerror(errno));
        munmap(base, ARENA_SIZE);   /* never executed: safe to unmap */
        free(arena);
        return NULL;
    }
    arena->base = base;
    arena->nslots = nslots;
    arena->used = 0;
    arena->next = perf_state.arenas;
    perf_state.arenas = arena;
    return arena;
}

static _PyPerf_TrampolineFunc
allocate_slot(void)
{
    _PyPerfArena *arena = perf_state.arenas;
    if (arena == NULL || arena->used == arena->nslots) {
        arena = new_arena();
        if (arena == NULL) {
            return NULL;
        }
    }
    char *slot = arena->base + arena->used * _PyPerf_SLOT_SIZE;
    arena->used++;
    perf_state.next_slot++;
    return (_PyPerf_TrampolineFunc)(void *)slot;
}


/* ------------------------------------------------------------------ */
/* Identities                                                         */

/* Longest part (qualname or filename) copied into a name, in bytes. */
#define NAME_PART_MAX 2000

/* Append the sanitized UTF-8 form of a str to buf at *pos.  Line breaks
   and control characters (which could forge map lines) become '?' (see
   _PyPerf_SanitizeName()), undecodable content is backslash-escaped, and
   a part longer than NAME_PART_MAX is cut at a character boundary and
   marked with "...". */
static int
append_part(char *buf, size_t *pos, PyObject *str)
{
    const char *data = NULL;
    Py_ssize_t size = 0;
    PyObject *bytes = NULL;
    if (str != NULL && PyUnicode_Check(str)) {
        data = PyUnicode_AsUTF8AndSize(str, &size);
        if (data == NULL) {
            PyErr_Clear();
            bytes = PyUnicode_AsEncodedString(str, "utf-8",
                                              "backslashreplace");
            if (bytes == NULL) {
                return -1;
            }
            data = PyBytes_AS_STRING(bytes);
            size = PyBytes_GET_SIZE(bytes);
        }
    }
    else {
        data = "?";
        size = 1;
    }
    int truncated = 0;
    if (size > NAME_PART_MAX) {
        size = NAME_PART_MAX;
        /* Do not cut a UTF-8 sequence: back up to a lead byte. */
        while (size > 0 && ((unsigned char)data[size] & 0xc0) == 0x80) {
            size--;
        }
        truncated = 1;
    }
    *pos += _PyPerf_SanitizeName(buf + *pos, data, (size_t)size);
    if (truncated) {
        memcpy(buf + *pos, "...", 3);
        *pos += 3;
    }
    Py_XDECREF(bytes);
    return 0;
}

static Py_hash_t
identity_hash(const char *name, size_t len, int lineno)
{
    /* FNV-1a over the name, then the line number. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
    }
    h = (h ^ (uint32_t)lineno) * 0x100000001b3ULL;
    return (Py_hash_t)h;
}

static int
table_grow(void)
{
    size_t new_size = perf_state.table_size ? perf_state.table_size * 2
                                            : 256;
    _PyPerfTrampoline **table = calloc(new_size, sizeof(*table));
    if (table == NULL) {
        _PyPerf_SetError("perf trampoline: out of memory");
        return -1;
    }
    for (size_t i = 0; i < perf_state.table_size; i++) {
        _PyPerfTrampoline *t = perf_state.table[i];
        while (t != NULL) {
            _PyPerfTrampoline *next = t->next;
            size_t b = (size_t)t->hash & (new_size - 1);
            t->next = table[b];
            table[b] = t;
            t = next;
        }
    }
    free(perf_state.table);
    perf_state.table = table;
    perf_state.table_size = new_size;
    return 0;
}

/* Find or create the trampoline of a code object's identity. */
static _PyPerfTrampoline *
identity_trampoline(PyCodeObject *co)
{
    char buf[4 + NAME_PART_MAX + 3 + 1 + NAME_PART_MAX + 3 + 1];
    size_t pos = 0, filename_pos;
    memcpy(buf, "py::", 4);
    pos = 4;
    if (append_part(buf, &pos, co->co_qualname) < 0) {
        _PyPerf_SetError("perf trampoline: cannot encode a function name");
        return NULL;
    }
    buf[pos++] = ':';
    filename_pos = pos;
    if (append_part(buf, &pos, co->co_filename) < 0) {
        _PyPerf_SetError("perf trampoline: cannot encode a file name");
        return NULL;
    }
    buf[pos] = '\0';

    int lineno = co->co_firstlineno;
    Py_hash_t hash = identity_hash(buf, pos, lineno);
    if (perf_state.table_size != 0) {
        size_t b = (size_t)hash & (perf_state.table_size - 1);
        for (_PyPerfTrampoline *t = perf_state.table[b]; t; t = t->next) {
            if (t->hash == hash && t->lineno == lineno
                && strcmp(t->name, buf) == 0)
            {
                return t;
            }
        }
    }
    if (perf_state.table_used >= perf_state.table_size) {
        if (table_grow() < 0) {
            return NULL;
        }
    }
    _PyPerfTrampoline *t = malloc(sizeof(*t) + pos);
    if (t == NULL) {
        _PyPerf_SetError("perf trampoline: out of memory");
        return NULL;
    }
    t->entry = allocate_slot();
    if (t->entry == NULL) {
        free(t);
        return NULL;
    }
    memcpy(t->name, buf, pos + 1);
    t->filename = t->name + filename_pos;
    t->lineno = lineno;
    t->hash = hash;
    t->ready = NULL;
    t->written_gen = 0;
    t->other_gen = 0;
    size_t b = (size_t)hash & (perf_state.table_size - 1);
    t->next = perf_state.table[b];
    perf_state.table[b] = t;
    perf_state.table_used++;
    return t;
}


/* ------------------------------------------------------------------ */
/* Code objects                                                       */

/* The value of t->ready once t has been described to the current output:
   the return address of a frame record for t. */
static char *
ready_address(const _PyPerfTrampoline *t)
{
    return (char *)(void *)t->entry + _PyPerf_STUB_RETURN_OFFSET;
}

/* Describe a trampoline to the current output. */
static int
write_record(_PyPerfTrampoline *t)
{
    _PyPerf_CodeInfo info = {
        .code_addr = (const void *)t->entry,
        .code_size = _PyPerf_SLOT_CODE_SIZE,
        .name = t->name,
        .filename = t->filename,
        .lineno = t->lineno,
    };
    if (perf_state.backend->write_code(&info) < 0) {
        return -1;
    }
    t->written_gen = perf_state.output_gen;
    t->ready = ready_address(t);
    return 0;
}

/* Make sure co has a trampoline, described to the current output if there
   is one.  Returns NULL with perf_state.error set on failure. */
static _PyPerfTrampoline *
prepare_trampoline_impl(PyCodeObject *co)
{
    _PyPerfTrampoline *t = _PyPerf_CODE_TRAMPOLINE(co);
    if (t == NULL) {
        t = identity_trampoline(co);
        if (t == NULL) {
            return NULL;
        }
        if (_PyCode_SetExtra((PyObject *)co, _PyPerf_CODE_EXTRA_INDEX, t)
            < 0)
        {
            PyErr_Clear();
            _PyPerf_SetError("perf trampoline: out of memory");
            return NULL;
        }
    }
    if (perf_state.backend != NULL
        && t->written_gen != perf_state.output_gen)
    {
        if (write_record(t) < 0) {
            return NULL;
        }
    }
    return t;
}

/* prepare_trampoline_impl() with the caller's exception state untouched:
   the hook runs with an exception pending when a generator is resumed by
   throw(), and the name encoding clears the errors it handles.  Errors of
   its own are reported through perf_state.error, never raised. */
static _PyPerfTrampoline *
prepare_trampoline(PyCodeObject *co)
{
    PyObject *exc, *val, *tb;
    PyErr_Fetch(&exc, &val, &tb);
    _PyPerfTrampoline *t = prepare_trampoline_impl(co);
    PyErr_Clear();
    PyErr_Restore(exc, val, tb);
    return t;
}

/* Bring every trampoline's 'ready' in line with the current output
   generation: call after any change of perf_state.output_gen.  Output
   changes are rare (activation, backend switch or failure, finalization,
   fork), so the fast paths test one pointer instead of comparing
   generations, and the price is this walk over the identity table. */
static void
sync_ready(void)
{
    for (size_t i = 0; i < perf_state.table_size; i++) {
        for (_PyPerfTrampoline *t = perf_state.table[i]; t; t = t->next) {
            t->ready = t->written_gen == perf_state.output_gen
                ? ready_address(t) : NULL;
        }
    }
}

/* A new output: nothing has been described to it yet. */
static void
new_output(void)
{
    perf_state.output_gen++;
    sync_ready();
}

/* The records in an output's file, as (code address, hash of the name)
   pairs (resync_output()). */
typedef struct {
    uintptr_t addr;
    uint64_t name_hash;
} written_record;

typedef struct {
    written_record *records;
    size_t count;
    size_t capacity;
    int failed;
} written_set;

/* FNV-1a, 64 bits: a collision would only skip one description. */
static uint64_t
name_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h ^ *p) * 0x100000001b3ULL;
    }
    return h;
}

static void
written_found(uintptr_t addr, const char *name, void *arg)
{
    written_set *set = (written_set *)arg;
    if (set->count == set->capacity) {
        size_t capacity = set->capacity ? 2 * set->capacity : 1024;
        written_record *records = realloc(set->records,
                                          capacity * sizeof(*records));
        if (records == NULL) {
            set->failed = 1;
            return;
        }
        set->records = records;
        set->capacity = capacity;
    }
    set->records[set->count].addr = addr;
    set->records[set->count].name_hash = name_hash(name);
    set->count++;
}

static int
compare_records(const void *a, const void *b)
{
    const written_record *x = a, *y = b;
    if (x->addr != y->addr) {
        return x->addr < y->addr ? -1 : 1;
    }
    return (x->name_hash > y->name_hash) - (x->name_hash < y->name_hash);
}

/* Start a new generation of the current output, in which the trampolines
   whose records its file already has (same address, same name) count as
   described.  Used where the file is not new: after a failure (what the
   writer had buffered is lost, what reached the file stays: a failed
   write is cut back to the last complete record), and when a backend is
   activated again after Py_Finalize() (the writer reopens its file).
   Matching the name as well as the address keeps out records that name an
   address after another function: a fork child's copy of the parent's
   map (both go on creating trampolines in the same free slots), or an
   earlier image's map lines after exec() without address randomization
   (the jitdump writer reports only this image's records).  If the file
   cannot be read, everything is described again. */
static void
resync_output(void)
{
    new_output();
    const _PyPerf_Backend *backend = perf_state.backend;
    written_set set = {NULL, 0, 0, 0};
    if (backend == NULL || backend->scan_written(written_found, &set) < 0
        || set.failed || set.count == 0)
    {
        free(set.records);
        return;
    }
    qsort(set.records, set.count, sizeof(*set.records), compare_records);
    for (size_t i = 0; i < perf_state.table_size; i++) {
        for (_PyPerfTrampoline *t = perf_state.table[i]; t; t = t->next) {
            written_record key = {(uintptr_t)t->entry, name_hash(t->name)};
            if (bsearch(&key, set.records, set.count, sizeof(key),
                        compare_records) != NULL)
            {
                t->written_gen = perf_state.output_gen;
            }
        }
    }
    free(set.records);
    sync_ready();
}

/* Switching backends (perf <-> perf_jit) changes the current output but
   not the outputs themselves: each still has what was described to it.
   Swap the generations of the two outputs, in the state and in every
   trampoline, so that switching back does not describe every function
   again (a second map line, a second CODE_LOAD and jitted-*.so for the
   same code).  Backend switches are rare. */
static void
switch_outputs(void)
{
    for (size_t i = 0; i < perf_state.table_size; i++) {
        for (_PyPerfTrampoline *t = perf_state.table[i]; t; t = t->next) {
            uint32_t gen = t->written_gen;
            t->written_gen = t->other_gen;
            t->other_gen = gen;
        }
    }
    uint32_t gen = perf_state.output_gen;
    perf_state.output_gen = perf_state.other_output_gen;
    perf_state.other_output_gen = gen;
    sync_ready();
}

static void
remove_hook(PyInterpreterState *interp)
{
    if (interp->eval_frame == _PyPerf_EvalFrame) {
        interp->eval_frame = NULL;
    }
}

static void
remove_all_hooks(void)
{
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
    for (PyInterpreterState *interp = _PyRuntime.interpreters.head;
         interp != NULL; interp = interp->next)
    {
        remove_hook(interp);
    }
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
}

/* The backend failed on the hot path: stop trampolining in every
   interpreter and report once.  Called with the GIL held. */
static void
backend_failed(PyThreadState *tstate)
{
    perf_state.flush_failed = 0;
    /* What was buffered is lost: describe it again if the backend is
       activated again. */
    resync_output();
    if (!perf_state.failed) {
        perf_state.failed = 1;
        PyObject *exc, *val, *tb;
        _PyErr_Fetch(tstate, &exc, &val, &tb);
        PyObject *msg = PyUnicode_FromFormat(
            "perf trampoline (%s backend) disabled: %s",
            perf_state.backend ? perf_state.backend->name : "?",
            perf_state.error);
        if (msg != NULL) {
            if (PyErr_WarnEx(PyExc_RuntimeWarning, PyUnicode_AsUTF8(msg),
                             1) < 0)
            {
                PyErr_WriteUnraisable(msg);
            }
            Py_DECREF(msg);
        }
        else {
            PyErr_Clear();
        }
        _PyErr_Restore(tstate, exc, val, tb);
    }
    remove_all_hooks();
}

__thread uintptr_t _PyPerf_stack_limit
    __attribute__((tls_model("initial-exec"))) = 0;

/* Per thread, set with _PyPerf_stack_limit: the same limit for the hook,
   whose fast path must fail while the limit is not known (UINTPTR_MAX
   until then, where ceval.c's test needs 0). */
static __thread uintptr_t hook_stack_limit
    __attribute__((tls_model("initial-exec"))) = UINTPTR_MAX;
/* The thread's stack, [stack_low, stack_high); both 0 if unknown.  Code
   running on another stack (a fiber's, allocated elsewhere) is not
   limited: the limits are about this one. */
static __thread uintptr_t stack_low
    __attribute__((tls_model("initial-exec"))) = 0;
static __thread uintptr_t stack_high
    __attribute__((tls_model("initial-exec"))) = 0;

/* The soft limit is a quarter of the thread's stack from its end; the hard
   limit an eighth of the stack, at most 64 KiB. */
#define STACK_HARD_MARGIN_MAX (64 * 1024)

static void
set_stack_limit(void)
{
    uintptr_t limit = 1;              /* bounds unknown: no limits */
    uintptr_t low = 0, high = 0;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            low = (uintptr_t)addr;
            high = low + size;
            limit = low + size / 4;
        }
        pthread_attr_destroy(&attr);
    }
    stack_low = low;
    stack_high = high;
    hook_stack_limit = limit;
    _PyPerf_stack_limit = limit;
}

/* The C stack pointer, to compare with the limits. */
static inline uintptr_t
stack_pointer(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__("mov %0, sp" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

/* Too little C stack is left to enter another frame from C.  Without perf
   support the thread might have got further, as trampolines have used
   more of its stack; with or without, it would crash where the stack
   ends.  Raise the RecursionError of the recursion limit instead, through
   the evaluator's own check, so that the frame is unwound exactly as it
   is at the recursion limit. */
static PyObject *
stack_exhausted(PyThreadState *tstate, _PyInterpreterFrame *frame,
                int throwflag)
{
    int remaining = tstate->recursion_remaining;
    tstate->recursion_remaining = 0;
    PyObject *result = _PyEval_EvalFrameDefault(tstate, frame, throwflag);
    tstate->recursion_remaining = remaining;
    return result;
}

/* The throwflag for a frame entered through its trampoline: the evaluator
   may use the stub's reserve for the frame records of its inlined calls
   and generator resumptions (see pycore_perf.h), unless it is to throw
   into a generator (gen.throw(), rare). */
#define RESERVED_UNLESS_THROW(throwflag) \
    ((throwflag) == 0 ? _PyPerf_ENTER_RESERVED : (throwflag))

/* Everything but the common case (see pycore_perf.h).  Out of line, so
   that the common paths, in the hook below and in ceval.c, need no
   callee-saved registers and no stack frame of their own. */
PyObject * __attribute__((noinline, cold))
_PyPerf_EnterSlow(PyThreadState *tstate, _PyInterpreterFrame *frame,
                  int throwflag)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (_PyPerf_stack_limit == 0) {
        set_stack_limit();
    }
    /* Without a stub, the evaluator has no reserve to use. */
    int plain_throwflag = throwflag == _PyPerf_ENTER_RESERVED ? 0 : throwflag;
    /* Below the soft limit of this thread's own stack.  (On another
       stack, every call from C comes here: no limits apply.) */
    if (sp <= _PyPerf_stack_limit && sp >= stack_low && sp < stack_high) {
        uintptr_t hard_margin = (stack_high - stack_low) / 8;
        if (hard_margin > STACK_HARD_MARGIN_MAX) {
            hard_margin = STACK_HARD_MARGIN_MAX;
        }
        if (sp <= stack_low + hard_margin) {
            return stack_exhausted(tstate, frame, plain_throwflag);
        }
        /* Too deep for another stub: as without perf support. */
        return _PyEval_EvalFrameDefault(tstate, frame, plain_throwflag);
    }
    _PyPerfTrampoline *t = _PyPerf_CODE_TRAMPOLINE(frame->f_code);
    if (!_PyPerf_TRAMPOLINE_READY(t)) {
        t = perf_state.failed || perf_state.flush_failed
            ? NULL : prepare_trampoline(frame->f_code);
        if (t == NULL) {
            backend_failed(tstate);
            return _PyEval_EvalFrameDefault(tstate, frame, plain_throwflag);
        }
    }
    return t->entry(tstate, frame, RESERVED_UNLESS_THROW(throwflag),
                    _PyEval_EvalFrameDefault);
}

/* The PEP 523 hook: frames entered from C (calls from C code, generator
   and coroutine resumptions, module bodies), and by ceval.c those of
   Python calls it cannot give a frame record.  The common path is a few
   loads and compares and a tail call into the trampoline (this function's
   own frame is gone by then, so a stack shows evaluator -> trampoline ->
   evaluator).  Everything else, including a stack pointer at or below
   the thread's limit (or a limit not known yet), goes to
   _PyPerf_EnterSlow(). */
PyObject *
_PyPerf_EvalFrame(PyThreadState *tstate, _PyInterpreterFrame *frame,
                  int throwflag)
{
    _PyPerfTrampoline *t = _PyPerf_CODE_TRAMPOLINE(frame->f_code);
    if (LIKELY(_PyPerf_TRAMPOLINE_READY(t))
        && LIKELY(stack_pointer() > hook_stack_limit))
    {
        /* t->entry, computed from the pointer already loaded */
        _PyPerf_TrampolineFunc entry = (_PyPerf_TrampolineFunc)(void *)
            (t->ready - _PyPerf_STUB_RETURN_OFFSET);
        return entry(tstate, frame, RESERVED_UNLESS_THROW(throwflag),
                     _PyEval_EvalFrameDefault);
    }
    return _PyPerf_EnterSlow(tstate, frame, throwflag);
}


/* ------------------------------------------------------------------ */
/* Activation                                                         */

static const _PyPerf_Backend *
find_backend(const char *name)
{
    if (strcmp(name, "perf") == 0) {
        return &_PyPerf_MapBackend;
    }
    if (strcmp(name, "perf_jit") == 0) {
        return &_PyPerf_JitBackend;
    }
    return NULL;
}

/* Whether an interpreter other than interp has the hook installed. */
static int
other_interpreter_active(PyInterpreterState *interp)
{
    int found = 0;
    PyThread_acquire_lock(_PyRuntime.interpreters.mutex, WAIT_LOCK);
    for (PyInterpreterState *other = _PyRuntime.interpreters.head;
         other != NULL; other = other->next)
    {
        if (other != interp && other->eval_frame == _PyPerf_EvalFrame) {
            found = 1;
            break;
        }
    }
    PyThread_release_lock(_PyRuntime.interpreters.mutex);
    return found;
}

int
_PyPerf_Activate(PyThreadState *tstate, const char *name)
{
    const _PyPerf_Backend *backend = find_backend(name);
    if (backend == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "invalid backend: '%s' (expected " BACKEND_NAMES ")",
                     name);
        return -1;
    }
    PyInterpreterState *interp = tstate->interp;
    if (perf_state.finalized) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot activate the perf trampoline: the "
                        "interpreter is shutting down");
        return -1;
    }
    if (interp->eval_frame != NULL && interp->eval_frame != _PyPerf_EvalFrame)
    {
        PyErr_SetString(PyExc_RuntimeError,
                        "cannot activate the perf trampoline: another "
                        "frame evaluation function (PEP 523) is installed");
        return -1;
    }
    if (perf_state.backend != NULL && perf_state.backend != backend
        && !perf_state.failed && other_interpreter_active(interp))
    {
        /* One output per process: switching it under an interpreter that
           asked for the other backend would silently move its functions
           to a file its user does not read. */
        PyErr_Format(PyExc_RuntimeError,
                     "cannot activate the perf trampoline with the %s "
                     "backend: another interpreter uses the %s backend "
                     "(one backend per process)", backend->name,
                     perf_state.backend->name);
        return -1;
    }
    if (perf_state.backend != backend || perf_state.failed) {
        if (perf_state.backend != NULL && perf_state.backend != backend
            && perf_state.backend->flush() < 0)
        {
            /* The pending records are dropped: that output describes
               them again when it is next used. */
            resync_output();
        }
        perf_state.error[0] = '\0';
        if (backend->open() < 0) {
            /* A hostile or full /tmp must not stop the program: say so and
               go on without trampolines (unless warnings are errors). */
            if (PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                                 "perf trampoline (%s backend) not "
                                 "activated: %s", backend->name,
                                 perf_state.error) < 0)
            {
                return -1;
            }
            return 0;
        }
        if (perf_state.backend != backend) {
            if (perf_state.backend != NULL) {
                switch_outputs();
                perf_state.backend = backend;
            }
            else {
                /* First activation, or the first after Py_Finalize():
                   the file may have records of this process already.
                   output_gen counts the output of the backend that was
                   current last: make it this one's. */
                if (perf_state.last_backend != NULL
                    && perf_state.last_backend != backend)
                {
                    switch_outputs();
                }
                perf_state.backend = backend;
                resync_output();
            }
            perf_state.last_backend = backend;
        }
        perf_state.failed = 0;
    }
    interp->eval_frame = _PyPerf_EvalFrame;
    return 0;
}

int
_PyPerf_Deactivate(PyThreadState *tstate)
{
    PyInterpreterState *interp = tstate->interp;
    if (interp->eval_frame != _PyPerf_EvalFrame) {
        return 0;
    }
    /* Frames entered through trampolines may still be running (even this
       one): the arenas stay mapped, only new calls stop using them. */
    interp->eval_frame = NULL;
    if (perf_state.flush_failed
        || (perf_state.backend != NULL && perf_state.backend->flush() < 0))
    {
        /* Like any other failure of the output: one warning, never an
           exception (a full /tmp must not break the program). */
        backend_failed(tstate);
    }
    return 0;
}

int
_PyPerf_IsActive(PyThreadState *tstate)
{
    return tstate->interp->eval_frame == _PyPerf_EvalFrame
           && perf_state.backend != NULL && !perf_state.failed
           && !perf_state.flush_failed;
}

PyStatus
_PyPerf_InitInterpreter(PyThreadState *tstate)
{
    if (_Py_IsMainInterpreter(tstate->interp)) {
        /* Py_Initialize() after Py_Finalize() (embedders) */
        perf_state.finalized = 0;
    }
    int which;
    PyStatus status = _PyPerf_ReadConfig(_PyInterpreterState_GetConfig(
                                             tstate->interp), &which);
    if (_PyStatus_EXCEPTION(status) || which == 0) {
        return status;
    }
    if (_PyPerf_Activate(tstate, which == 2 ? "perf_jit" : "perf") < 0) {
        /* Warnings are errors (-W error): report it, do not stop. */
        PyObject *exc, *val, *tb;
        _PyErr_Fetch(tstate, &exc, &val, &tb);
        PyObject *msg = val ? PyObject_Str(val) : NULL;
        Py_XDECREF(exc);
        Py_XDECREF(val);
        Py_XDECREF(tb);
        if (msg == NULL) {
            return _PyStatus_NO_MEMORY();
        }
        int r = PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "%U", msg);
        Py_DECREF(msg);
        if (r < 0) {
            PyErr_WriteUnraisable(NULL);
        }
    }
    return _PyStatus_OK();
}


/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */

/* Called while the thread is releasing the GIL: no warning can be issued
   here.  A failure is reported by the next trampolined call (the bumped
   generation sends it down the slow path) or by deactivation. */
static void
report_flush_failure_later(void)
{
    if (perf_state.backend != NULL && !perf_state.failed) {
        perf_state.flush_failed = 1;
        new_output();
    }
}

void
_PyPerf_MaybeFlush(void)
{
    if (_PyPerfMap_MaybeFlush() < 0
        && perf_state.backend == &_PyPerf_MapBackend)
    {
        report_flush_failure_later();
    }
    if (_PyPerfJit_MaybeFlush() < 0
        && perf_state.backend == &_PyPerf_JitBackend)
    {
        report_flush_failure_later();
    }
}

void
_PyPerf_FlushAll(void)
{
    /* The map writer also serves the PyUnstable_* API: flush it even when
       the jitdump backend is the current one. */
    int failed = _PyPerfMap_Flush() < 0
                 && perf_state.backend == &_PyPerf_MapBackend;
    if (perf_state.backend != NULL
        && perf_state.backend != &_PyPerf_MapBackend
        && perf_state.backend->flush() < 0)
    {
        failed = 1;
    }
    if (failed) {
        /* The writers drop what they could not write: describe it
           again if the output is used again. */
        resync_output();
    }
}

void
_PyPerf_Fini(void)
{
    /* No new trampolined calls from here on; frames already inside
       trampolines finish normally (the arenas stay). */
    remove_all_hooks();
    perf_state.finalized = 1;
    if (perf_state.backend != NULL) {
        (void)perf_state.backend->close();
        /* The outputs stay as they are (an embedder's next
           Py_Initialize() reopens them, and resync_output() checks what
           they have). */
        perf_state.last_backend = perf_state.backend;
        perf_state.backend = NULL;
    }
    /* A jitdump written before a switch to the map backend ends with
       CODE_CLOSE too (a no-op if this process has no open dump). */
    (void)_PyPerf_JitBackend.close();
    (void)_PyPerfMap_Close();
}

void
_PyPerf_BeforeFork(void)
{
    /* The child must not inherit buffered data: it would either be lost
       or written twice. */
    _PyPerf_FlushAll();
    _PyPerfJit_BeforeFork();
    _PyPerfMap_BeforeFork();
}

void
_PyPerf_AfterForkParent(void)
{
    _PyPerfMap_AfterForkParent();
}

void
_PyPerf_AfterForkChild(void)
{
    int persist = perf_state.persist_after_fork;
    int map_copied = _PyPerfMap_AfterForkChild(persist);
    if (map_copied != 1 && perf_state.backend == &_PyPerf_MapBackend) {
        /* The child's map is not a copy of the parent's after all: go on
           as without persist-after-fork, describing what the child runs
           (or, if the map cannot be written at all, failing as usual). */
        persist = 0;
    }
    if (perf_state.backend == NULL) {
        return;
    }
    if (perf_state.backend->after_fork_child(persist) < 0) {
        backend_failed(_PyThreadState_GET());
        return;
    }
    /* The other backend's output is new in the child, unless it is the
       map and persist-after-fork copied it (not when the parent had
       closed it with PyUnstable_PerfMapState_Fini()). */
    if (perf_state.backend == &_PyPerf_MapBackend || map_copied != 1) {
        perf_state.other_output_gen++;
    }
    if (persist) {
        /* The child's output starts as a copy of the parent's: every
           record written there is written here too. */
        return;
    }
    /* A new output: describe what this process runs from now on, starting
       with the frames that are running right now (they were entered
       through trampolines before the fork and still return into them). */
    new_output();
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL || perf_state.failed) {
        return;
    }
    for (_PyInterpreterFrame *f = tstate->cframe->current_frame; f != NULL;
         f = f->previous)
    {
        _PyPerfTrampoline *t = _PyPerf_CODE_TRAMPOLINE(f->f_code);
        if (t != NULL && t->written_gen != perf_state.output_gen) {
            if (write_record(t) < 0) {
                backend_failed(tstate);
                return;
            }
        }
    }
}


/* ------------------------------------------------------------------ */
/* Public unstable C API                                              */

int
PyUnstable_PerfTrampoline_CompileCode(PyCodeObject *co)
{
    if (prepare_trampoline(co) == NULL) {
        PyErr_Format(PyExc_RuntimeError, "cannot compile a perf trampoline: "
                     "%s", perf_state.error);
        return -1;
    }
    return 0;
}

int
PyUnstable_PerfTrampoline_SetPersistAfterFork(int enable)
{
    perf_state.persist_after_fork = enable != 0;
    return 0;
}

/* Test support: the trampoline address of a code object, or NULL. */
void *
_PyPerf_TrampolineAddress(PyCodeObject *co)
{
    _PyPerfTrampoline *t = _PyPerf_CODE_TRAMPOLINE(co);
    return t != NULL ? (void *)t->entry : NULL;
}

#else  /* !PY_HAVE_PERF_TRAMPOLINE */

/* The feature is compiled out: the sys functions exist and say so. */

int
_PyPerf_Activate(PyThreadState *tstate, const char *name)
{
    if (strcmp(name, "perf") != 0 && strcmp(name, "perf_jit") != 0) {
        PyErr_Format(PyExc_ValueError,
                     "invalid backend: '%s' (expected " BACKEND_NAMES ")",
                     name);
        return -1;
    }
    PyErr_SetString(PyExc_ValueError,
                    "perf trampolines are not supported on this platform");
    return -1;
}

int
_PyPerf_Deactivate(PyThreadState *tstate)
{
    return 0;
}

int
_PyPerf_IsActive(PyThreadState *tstate)
{
    return 0;
}

PyStatus
_PyPerf_InitInterpreter(PyThreadState *tstate)
{
    int which;
    return _PyPerf_ReadConfig(_PyInterpreterState_GetConfig(tstate->interp),
                              &which);
}

void _PyPerf_FlushAll(void) { }
void _PyPerf_MaybeFlush(void) { }
void _PyPerf_Fini(void) { }
void _PyPerf_BeforeFork(void) { }
void _PyPerf_AfterForkParent(void) { }
void _PyPerf_AfterForkChild(void) { }

int
PyUnstable_PerfTrampoline_CompileCode(PyCodeObject *co)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "perf trampolines are not supported on this platform");
    return -1;
}

int
PyUnstable_PerfTrampoline_SetPersistAfterFork(int enable)
{
    return 0;
}

void *
_PyPerf_TrampolineAddress(PyCodeObject *co)
{
    return NULL;
}

#endif  /* PY_HAVE_PERF_TRAMPOLINE */
