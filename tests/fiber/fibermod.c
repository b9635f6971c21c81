/* fibermod.run(func, stack_size): call func() on a fiber, a ucontext whose
   stack comes from malloc(), not from the thread's stack, and return its
   result.  Libraries that run Python on coroutine stacks of their own
   (ucontext, Boost.Context) do the same.  Used by tests/test_fiber.sh. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>               // malloc(), free()
#include <ucontext.h>             // getcontext(), makecontext(), ...

static ucontext_t caller_context, fiber_context;
static PyObject *fiber_func, *fiber_result;

static void
fiber_main(void)
{
    fiber_result = PyObject_CallNoArgs(fiber_func);
}

static PyObject *
fibermod_run(PyObject *module, PyObject *args)
{
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "On", &fiber_func, &size)) {
        return NULL;
    }
    void *stack = malloc((size_t)size);
    if (stack == NULL) {
        return PyErr_NoMemory();
    }
    if (getcontext(&fiber_context) < 0) {
        free(stack);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    fiber_context.uc_stack.ss_sp = stack;
    fiber_context.uc_stack.ss_size = (size_t)size;
    fiber_context.uc_link = &caller_context;
    makecontext(&fiber_context, fiber_main, 0);
    fiber_result = NULL;
    if (swapcontext(&caller_context, &fiber_context) < 0) {
        free(stack);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    free(stack);
    return fiber_result;
}

static PyMethodDef fibermod_methods[] = {
    {"run", fibermod_run, METH_VARARGS, "run(func, stack_size)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef fibermod_module = {
    PyModuleDef_HEAD_INIT, "fibermod", NULL, -1, fibermod_methods,
};

PyMODINIT_FUNC
PyInit_fibermod(void)
{
    return PyModule_Create(&fibermod_module);
}
