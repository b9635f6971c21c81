/* The perf trampoline stub.

   _Py_trampoline_func_start(tstate, frame, throwflag, eval) calls
   eval(tstate, frame, throwflag) inside a native frame of its own and
   returns its result.  Python/perf_trampoline.c copies the bytes between
   _Py_trampoline_func_start and _Py_trampoline_func_end into executable
   arenas, one copy per Python function, and reports each copy's address to
   perf: a sample whose call chain passes through a copy is attributed to
   that Python function.

   The stub builds a complete frame record so that frame-pointer unwinding
   reaches the caller: a stub that skipped it would hide one frame.  The
   layout is mirrored in Include/internal/pycore_perf.h (stub size), in
   the unwinding information of Python/perf_jit_trampoline.c (the CFA after
   each instruction) and in tools/jitdump_check.py: change them together.

   Below its frame record the stub keeps _PyPerf_STUB_RESERVE (512) bytes
   of stack for the evaluator it calls: room for the frame records of
   Python calls that the evaluator runs inlined, without a C call of its
   own (see Include/internal/pycore_perf.h and Python/ceval.c).  The
   evaluator uses the room only when it is told to (throwflag
   _PyPerf_ENTER_RESERVED); otherwise it is 512 unused bytes of stack.
   The reserve ends where the evaluator's frame begins, so every record
   lies above the evaluator's frame and below the stub's: a walk along
   the frame pointers always moves up the stack.

   x86-64: the indirect call and the 3-byte no-op after it are the room for
   a direct "call rel32" (5 bytes): where the copy lands within 2 GiB of
   the evaluator (the arenas are mapped just below it), the manager writes
   one over them, which spares an indirect branch per call.  Either way the
   call returns to offset 20 (_PyPerf_STUB_RETURN_OFFSET). */

/* _PyPerf_STUB_RESERVE; the C side checks _Py_trampoline_reserve_size. */
#define STUB_RESERVE 512

#if defined(__x86_64__)

    .text
    .globl  _Py_trampoline_func_start
    .type   _Py_trampoline_func_start, @function
    .p2align 4
_Py_trampoline_func_start:
    endbr64                     /* 0: IBT landing pad (indirect call) */
    push    %rbp                /* 4: CFA = rsp + 16, rbp at CFA - 16 */
    mov     %rsp, %rbp          /* 5: CFA = rbp + 16 */
    sub     $STUB_RESERVE, %rsp /* 8: the reserve (16-byte aligned) */
    call    *%rcx               /* 15: eval(rdi, rsi, edx); or call rel32 */
    nopl    (%rax)              /* 17: room for the direct call */
    leave                       /* 20: CFA = rsp + 8 */
    ret                         /* 21 */
    .globl  _Py_trampoline_func_end
_Py_trampoline_func_end:
    .size   _Py_trampoline_func_start, . - _Py_trampoline_func_start

#elif defined(__aarch64__)

    .text
    .globl  _Py_trampoline_func_start
    .type   _Py_trampoline_func_start, %function
    .p2align 4
_Py_trampoline_func_start:
    hint    #34                 /* 0:  bti c, landing pad for blr */
    hint    #25                 /* 4:  paciasp, sign x30 with sp */
    stp     x29, x30, [sp, #-16]!   /* 8: CFA = sp + 16, x29/x30 saved */
    mov     x29, sp             /* 12: CFA = x29 + 16 */
    sub     sp, sp, #STUB_RESERVE /* 16: the reserve (16-byte aligned) */
    blr     x3                  /* 20: eval(x0, x1, w2) */
    mov     sp, x29             /* 24: drop the reserve */
    ldp     x29, x30, [sp], #16 /* 28: CFA = sp + 0 */
    hint    #29                 /* 32: autiasp */
    ret                         /* 36 */
    .globl  _Py_trampoline_func_end
_Py_trampoline_func_end:
    .size   _Py_trampoline_func_start, . - _Py_trampoline_func_start

#endif

#if defined(__x86_64__) || defined(__aarch64__)

    /* The stub's size and its reserve, for the C side to check against its
       constants. */
    .section .rodata
    .p2align 3
    .globl  _Py_trampoline_func_size
_Py_trampoline_func_size:
    .quad   _Py_trampoline_func_end - _Py_trampoline_func_start
    .globl  _Py_trampoline_reserve_size
_Py_trampoline_reserve_size:
    .quad   STUB_RESERVE

    /* GNU property note: this object is compatible with IBT and shadow
       stacks (x86-64) or BTI and pointer authentication (AArch64).  The
       linker keeps a feature for the binary only if every object has it,
       so without the note the stub would switch them off for all. */
#if defined(__x86_64__)
#  define FEATURE_1_AND 0xc0000002  /* GNU_PROPERTY_X86_FEATURE_1_AND */
#else
#  define FEATURE_1_AND 0xc0000000  /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
#endif
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                   /* n_namesz: "GNU\0" */
    .long   16                  /* n_descsz */
    .long   5                   /* n_type: NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   FEATURE_1_AND       /* pr_type */
    .long   4                   /* pr_datasz */
    .long   3                   /* IBT | SHSTK, or BTI | PAC */
    .long   0                   /* padding to 8 bytes */

#endif

    /* No executable stack. */
    .section .note.GNU-stack, "", %progbits
