/* Placeholder: the jitdump backend is being written. */
#include "Python.h"
#include "pycore_perf.h"

#ifdef PY_HAVE_PERF_TRAMPOLINE
static int
jit_unavailable(void)
{
    _PyPerf_SetError("the jitdump backend is not built yet");
    return -1;
}
static int jit_write(const _PyPerf_CodeInfo *info) { return jit_unavailable(); }
static int jit_ok(void) { return 0; }
static int jit_fork(int persist) { return 0; }
const _PyPerf_Backend _PyPerf_JitBackend = {
    "perf_jit", jit_unavailable, jit_write, jit_ok, jit_ok, jit_fork,
};
#endif
