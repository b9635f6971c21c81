/* _fpwalk: walk the native frame-pointer chain, as perf record -g does.

   A test helper for make check-aarch64 (tools/check-aarch64.sh builds it
   with the cross compiler against build-aarch64/ and puts it on the path of
   the emulated interpreter; tests/aarch64/feature_checks.py uses it).

   _fpwalk.walk() -> list of int
       The return addresses found by following the x29 chain from walk()'s
       own frame record outwards, innermost first, with pointer
       authentication codes stripped.  The walk stops at a NULL frame
       pointer, at one that does not move towards the stack's base, or at
       one outside the current thread's stack (a broken chain then ends
       the list instead of crashing).

   Every trampoline of the perf support builds a frame record, so a chain
   through N trampolined Python calls holds, for each of them, the return
   address inside the trampoline (after its blr) followed by the return
   address inside the C function that called the trampoline.  A Python
   call that the evaluator runs inlined has instead a frame record that the
   evaluator writes in the stub's 512-byte reserve: its return address is
   the callee's trampoline at the same offset (after the blr), followed
   directly by its Python caller's. */

#define PY_SSIZE_T_CLEAN
#include "Python.h"

#include <pthread.h>
#include <stdint.h>

/* Frame records have the same layout on x86-64 (rbp chain), so the module
   also builds natively, which helps debugging the checks. */
#if defined(__aarch64__)
#  define STRIP_PAC(p) ((uintptr_t)__builtin_aarch64_xpaclri(p))
#elif defined(__x86_64__)
#  define STRIP_PAC(p) ((uintptr_t)(p))
#else
#  error "_fpwalk supports aarch64 and x86-64"
#endif

static void
stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    *lo = 0;
    *hi = UINTPTR_MAX;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        return;
    }
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
        *lo = (uintptr_t)addr;
        *hi = (uintptr_t)addr + size;
    }
    pthread_attr_destroy(&attr);
}

static PyObject *
fpwalk_walk(PyObject *module, PyObject *unused)
{
    uintptr_t lo, hi;
    stack_bounds(&lo, &hi);
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    uintptr_t *fp = (uintptr_t *)__builtin_frame_address(0);
    for (int i = 0; i < 1000000; i++) {
        if (fp == NULL || (uintptr_t)fp < lo || (uintptr_t)fp + 16 > hi
            || ((uintptr_t)fp & 7) != 0)
        {
            break;
        }
        uintptr_t ra = STRIP_PAC((void *)fp[1]);
        PyObject *item = PyLong_FromUnsignedLongLong(ra);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
        uintptr_t *next = (uintptr_t *)fp[0];
        if ((uintptr_t)next <= (uintptr_t)fp) {
            break;
        }
        fp = next;
    }
    return list;
}

static PyObject *
fpwalk_stack_bounds(PyObject *module, PyObject *unused)
{
    uintptr_t lo, hi;
    stack_bounds(&lo, &hi);
    return Py_BuildValue("(KK)", (unsigned long long)lo,
                         (unsigned long long)hi);
}

static PyMethodDef fpwalk_methods[] = {
    {"walk", fpwalk_walk, METH_NOARGS,
     "Return addresses of the frame-pointer chain, innermost first."},
    {"stack_bounds", fpwalk_stack_bounds, METH_NOARGS,
     "(low, high) addresses of the current thread's stack."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fpwalk_module = {
    PyModuleDef_HEAD_INIT, "_fpwalk", NULL, 0, fpwalk_methods,
};

PyMODINIT_FUNC
PyInit__fpwalk(void)
{
    return PyModule_Create(&fpwalk_module);
}
