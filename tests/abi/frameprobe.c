/* The layout of 3.11's _PyInterpreterFrame, printed as JSON.

   Out-of-process profilers and debuggers (py-spy, austin, gdb's
   libpython.py, and others) read interpreter frames from another
   process's memory at fixed offsets.  The patch set marks frames in a
   byte of the struct's padding; this probe, built once against pristine
   3.11.2's internal headers and once against the patched tree's, lets
   tests/test_abi.sh check that the size and every field's offset stayed
   the same.  Only compiled, never linked against libpython. */
#define Py_BUILD_CORE 1
#include "Python.h"
#include "internal/pycore_frame.h"    /* _PyInterpreterFrame */

#include <stddef.h>                   /* offsetof() */
#include <stdio.h>                    /* printf() */

#define FIELD(F) \
    printf("  \"offsetof(_PyInterpreterFrame, %s)\": %zu,\n", #F, \
           offsetof(_PyInterpreterFrame, F))

int
main(void)
{
    printf("{\n");
    FIELD(f_func);
    FIELD(f_globals);
    FIELD(f_builtins);
    FIELD(f_locals);
    FIELD(f_code);
    FIELD(frame_obj);
    FIELD(previous);
    FIELD(prev_instr);
    FIELD(stacktop);
    FIELD(is_entry);
    FIELD(owner);
    FIELD(localsplus);
    printf("  \"sizeof(_PyInterpreterFrame)\": %zu\n}\n",
           sizeof(_PyInterpreterFrame));
    return 0;
}
