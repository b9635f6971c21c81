/* An embedding application whose own code generator writes to the perf
   map before the interpreter exists and after it is gone, with the
   interpreter using PYTHONMALLOC=debug in between (tests/test_embed.sh).
   The map writer's buffer must not come from an allocator that changes
   across Py_Initialize()/Py_Finalize(). */
#include <Python.h>
#include <stdio.h>                // printf()
#include <unistd.h>               // getpid()

int
main(void)
{
    if (PyUnstable_PerfMapState_Init() < 0) {
        fprintf(stderr, "early_map: cannot open the perf map\n");
        return 1;
    }
    if (PyUnstable_WritePerfMapEntry((void *)0x1000, 16, "jit::before") < 0) {
        fprintf(stderr, "early_map: cannot write the first entry\n");
        return 1;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }
    if (PyRun_SimpleString("import sys\n"
                           "sys.activate_stack_trampoline('perf')\n"
                           "def in_python():\n"
                           "    return 1\n"
                           "in_python()\n") != 0) {
        return 1;
    }
    if (Py_FinalizeEx() < 0) {
        return 1;
    }
    if (PyUnstable_WritePerfMapEntry((void *)0x2000, 16, "jit::after") < 0) {
        fprintf(stderr, "early_map: cannot write the last entry\n");
        return 1;
    }
    PyUnstable_PerfMapState_Fini();
    printf("pid=%ld\n", (long)getpid());
    return 0;
}
