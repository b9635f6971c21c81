/* Control experiment for make check-aarch64 (tools/check-aarch64.sh).

   Linked with Python/asm_trampoline.S of the cross build tree and run under
   qemu-aarch64.  It does with the stub what Python/perf_trampoline.c does
   (copy into an mmap'd page, flush the instruction cache, make the page
   read-execute with PROT_BTI, call the copy with blr) and checks:

     good     the stub runs, passes its arguments through, returns the
              result, builds a frame record that links to the caller's
              (the callee finds the stub's return address and the caller's
              x29 through the chain) and restores x29;
     nobti    the stub with `bti c` replaced by `nop`, on a PROT_BTI page:
              must die with SIGILL (BTI is enforced);
     nobti-unguarded  the same copy on a page without PROT_BTI: must run
              (the SIGILL above comes from the landing pad, nothing else);
     nopac    the stub with `paciasp` replaced by `nop`: autiasp then
              authenticates an unsigned x30 and the process must die
              (pointer authentication is enforced).

   The last three run in forked children.  The first runs in the main
   process, so that a broken stub (tools/check-aarch64.sh --break-stub)
   makes this program fail visibly.  Exit status 0 when every experiment
   turned out as expected, 1 otherwise. */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PROT_BTI
#  define PROT_BTI 0x10
#endif

extern const char _Py_trampoline_func_start[];
extern const uint64_t _Py_trampoline_func_size;

typedef long (*eval_fn)(void *, void *, int);
typedef long (*tramp_fn)(void *, void *, int, eval_fn);

#define INSN_NOP     0xd503201fu
#define INSN_BTI_C   0xd503245fu
#define INSN_PACIASP 0xd503233fu
#define INSN_BLR_X3  0xd63f0060u

static size_t page_size;
static int prot_bti_accepted = -1;

/* Strip a pointer authentication code (xpaclri, a hint: a no-op on CPUs
   without PAC). */
static uintptr_t
strip_pac(void *p)
{
    return (uintptr_t)__builtin_aarch64_xpaclri(p);
}

/* Index of the first instruction word equal to insn, or -1. */
static int
find_insn(const uint32_t *code, size_t n, uint32_t insn)
{
    for (size_t i = 0; i < n; i++) {
        if (code[i] == insn) {
            return (int)i;
        }
    }
    return -1;
}

/* A copy of the stub on its own page, made executable the way the arenas
   are; replace_word (if not -1) is overwritten with a nop first. */
static tramp_fn
make_copy(uint32_t replace, int guarded)
{
    size_t size = (size_t)_Py_trampoline_func_size;
    char *page = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    memset(page, 0, page_size);                 /* udf #0 */
    memcpy(page, _Py_trampoline_func_start, size);
    if (replace != 0) {
        int i = find_insn((uint32_t *)page, size / 4, replace);
        if (i < 0) {
            fprintf(stderr, "bti_probe: instruction %08x not in the stub\n",
                    replace);
            exit(2);
        }
        ((uint32_t *)page)[i] = INSN_NOP;
    }
    __builtin___clear_cache(page, page + page_size);
    int prot = PROT_READ | PROT_EXEC;
    if (guarded && mprotect(page, page_size, prot | PROT_BTI) == 0) {
        prot_bti_accepted = 1;
        return (tramp_fn)(void *)page;
    }
    if (guarded) {
        if (errno != EINVAL) {
            perror("mprotect(PROT_BTI)");
            exit(2);
        }
        prot_bti_accepted = 0;
    }
    if (mprotect(page, page_size, prot) != 0) {
        perror("mprotect");
        exit(2);
    }
    return (tramp_fn)(void *)page;
}

/* What the evaluator stand-in saw of the frame chain. */
static struct {
    uintptr_t ra_into_stub;     /* its own return address */
    uintptr_t stub_fp;          /* the frame record it was called from */
    uintptr_t ra_from_stub;     /* the stub's saved return address */
    uintptr_t fp_above_stub;    /* the stub's saved x29 */
} seen;

__attribute__((noinline)) static long
fake_eval(void *tstate, void *frame, int throwflag)
{
    void **fp = __builtin_frame_address(0);
    void **stub_fp = fp[0];
    seen.ra_into_stub = strip_pac(fp[1]);
    seen.stub_fp = (uintptr_t)stub_fp;
    seen.ra_from_stub = strip_pac(stub_fp[1]);
    seen.fp_above_stub = (uintptr_t)stub_fp[0];
    return (long)(intptr_t)tstate * 1000 + (long)(intptr_t)frame * 10
           + throwflag;
}

/* Call a copy and check everything; returns the number of problems. */
__attribute__((noinline)) static int
call_and_check(tramp_fn tramp, const char *what)
{
    uintptr_t fp_before, fp_after;
    int problems = 0;
    memset(&seen, 0, sizeof(seen));
    __asm__ volatile("mov %0, x29" : "=r"(fp_before));
    long r = tramp((void *)7, (void *)5, 1, fake_eval);
    __asm__ volatile("mov %0, x29" : "=r"(fp_after));

    int blr = find_insn((const uint32_t *)(void *)tramp,
                        (size_t)_Py_trampoline_func_size / 4, INSN_BLR_X3);
    uintptr_t want_ra = (uintptr_t)(void *)tramp + 4 * (uintptr_t)blr + 4;
#define EXPECT(cond, ...) do { if (!(cond)) { problems++; \
        printf("bti_probe: %s: FAIL: ", what); printf(__VA_ARGS__); \
        printf("\n"); } } while (0)
    EXPECT(r == 7051, "result %ld, expected 7051 (arguments lost)", r);
    EXPECT(blr >= 0, "no blr x3 in the stub");
    EXPECT(seen.ra_into_stub == want_ra,
           "the callee returns to %#lx, expected stub+%d = %#lx",
           (unsigned long)seen.ra_into_stub, 4 * blr + 4,
           (unsigned long)want_ra);
    EXPECT(seen.fp_above_stub == fp_before,
           "the stub's frame record links to %#lx, expected the caller's "
           "x29 %#lx (broken frame chain)",
           (unsigned long)seen.fp_above_stub, (unsigned long)fp_before);
    EXPECT(seen.ra_from_stub > (uintptr_t)(void *)call_and_check
           && seen.ra_from_stub < (uintptr_t)(void *)call_and_check + 4096,
           "the stub's saved return address %#lx is not in the caller",
           (unsigned long)seen.ra_from_stub);
    EXPECT(fp_after == fp_before,
           "x29 is %#lx after the call, %#lx before (not restored)",
           (unsigned long)fp_after, (unsigned long)fp_before);
#undef EXPECT
    return problems;
}

/* Run an experiment in a child; returns its wait status. */
static int
in_child(uint32_t replace, int guarded, const char *what)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        tramp_fn t = make_copy(replace, guarded);
        _exit(call_and_check(t, what) == 0 ? 0 : 3);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        exit(2);
    }
    return status;
}

static const char *
describe(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, size, "killed by %s", strsignal(WTERMSIG(status)));
    }
    else {
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    }
    return buf;
}

int
main(void)
{
    char buf[80];
    int failures = 0, status;
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);

    const uint32_t *stub = (const uint32_t *)(const void *)
                           _Py_trampoline_func_start;
    size_t nwords = (size_t)_Py_trampoline_func_size / 4;
    printf("bti_probe: stub, %zu bytes:", (size_t)_Py_trampoline_func_size);
    for (size_t i = 0; i < nwords; i++) {
        printf(" %08x", stub[i]);
    }
    printf("\n");

    /* good: in this process. */
    tramp_fn good = make_copy(0, 1);
    printf("bti_probe: mprotect(PROT_READ|PROT_EXEC|PROT_BTI): %s\n",
           prot_bti_accepted ? "accepted" : "EINVAL, fell back (BTI is not "
           "enforced on the copy)");
    if (!prot_bti_accepted) {
        failures++;
    }
    int problems = call_and_check(good, "good");
    printf("bti_probe: good: %s\n", problems ? "FAIL" : "ok (runs, frame "
           "record linked, arguments and result passed, x29 restored)");
    failures += problems != 0;

    /* nobti: the control for BTI enforcement. */
    if (find_insn(stub, nwords, INSN_BTI_C) < 0) {
        printf("bti_probe: nobti: FAIL: the stub has no `bti c`\n");
        failures++;
    }
    else {
        status = in_child(INSN_BTI_C, 1, "nobti");
        int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGILL;
        printf("bti_probe: nobti: %s (%s; expected SIGILL)\n",
               ok ? "ok" : "FAIL", describe(status, buf, sizeof(buf)));
        failures += !ok;
        status = in_child(INSN_BTI_C, 0, "nobti-unguarded");
        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("bti_probe: nobti-unguarded: %s (%s; expected exit status "
               "0)\n", ok ? "ok" : "FAIL", describe(status, buf, sizeof(buf)));
        failures += !ok;
    }

    /* nopac: the control for pointer authentication. */
    if (find_insn(stub, nwords, INSN_PACIASP) < 0) {
        printf("bti_probe: nopac: FAIL: the stub has no `paciasp`\n");
        failures++;
    }
    else {
        status = in_child(INSN_PACIASP, 1, "nopac");
        int ok = WIFSIGNALED(status)
                 && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGILL
                     || WTERMSIG(status) == SIGBUS);
        printf("bti_probe: nopac: %s (%s; expected a crash)\n",
               ok ? "ok" : "FAIL", describe(status, buf, sizeof(buf)));
        failures += !ok;
    }
    printf("bti_probe: %s\n", failures ? "FAILED" : "all experiments as "
           "expected");
    return failures ? 1 : 0;
}
