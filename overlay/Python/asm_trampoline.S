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

   x86-64: the indirect call and the 3-byte no-op after it are the room for
   a direct "call rel32" (5 bytes): where the copy lands within 2 GiB of
   the evaluator (the arenas are mapped just below it), the manager writes
   one over them, which spares an indirect branch per call.  Either way the
   call returns to offset 13. */

#if defined(__x86_64__)

    .text
    .globl  _Py_trampoline_func_start
    .type   _Py_trampoline_func_start, @function
    .p2align 4
_Py_trampoline_func_start:
    endbr64                     /* 0: IBT landing pad (indirect call) */
    push    %rbp                /* 4: CFA = rsp + 16, rbp at CFA - 16 */
    mov     %rsp, %rbp          /* 5: CFA = rbp + 16 */
    call    *%rcx               /* 8: eval(rdi, rsi, edx); or call rel32 */
    nopl    (%rax)              /* 10: room for the direct call */
    pop     %rbp                /* 13: CFA = rsp + 8 */
    ret                         /* 14 */
    .globl  _Py_trampoline_func_end
_Py_trampoline_func_end:
    .size   _Py_trampoline_func_start, . - _Py_trampoline_func_start

    /* The stub's size, for the C side to check against its constants. */
    .section .rodata
    .p2align 3
    .globl  _Py_trampoline_func_size
_Py_trampoline_func_size:
    .quad   _Py_trampoline_func_end - _Py_trampoline_func_start

    /* GNU property note: the object is IBT and SHSTK compatible. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                   /* n_namesz: "GNU\0" */
    .long   16                  /* n_descsz */
    .long   5                   /* n_type: NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000002          /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long   4                   /* pr_datasz */
    .long   3                   /* IBT | SHSTK */
    .long   0                   /* padding to 8 bytes */

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
    blr     x3                  /* 16: eval(x0, x1, w2) */
    ldp     x29, x30, [sp], #16 /* 20: CFA = sp + 0 */
    hint    #29                 /* 24: autiasp */
    ret                         /* 28 */
    .globl  _Py_trampoline_func_end
_Py_trampoline_func_end:
    .size   _Py_trampoline_func_start, . - _Py_trampoline_func_start

    /* The stub's size, for the C side to check against its constants. */
    .section .rodata
    .p2align 3
    .globl  _Py_trampoline_func_size
_Py_trampoline_func_size:
    .quad   _Py_trampoline_func_end - _Py_trampoline_func_start

    /* GNU property note: BTI and PAC compatible. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                   /* n_namesz: "GNU\0" */
    .long   16                  /* n_descsz */
    .long   5                   /* n_type: NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000000          /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long   4                   /* pr_datasz */
    .long   3                   /* BTI | PAC */
    .long   0                   /* padding to 8 bytes */

#endif

    /* No executable stack. */
    .section .note.GNU-stack, "", %progbits
