/* abiprobe: an extension module for tests/test_abi.sh.
 *
 * The test compiles this file twice, against pristine 3.11.2 headers and
 * against the patched tree's headers, and imports both builds into the
 * patched interpreter.  The module
 *
 *   - reports, as numbers fixed at compile time, the size and field offsets
 *     of the public structures an extension may depend on (layout()); the
 *     two builds must report identical values;
 *   - reads live interpreter state through those compile-time offsets
 *     (runtime(), code_fields()), so a field that moved in the patched
 *     runtime shows up as a wrong value, not only as a different number;
 *   - lets the patched library fill a PyConfig laid out by its own headers
 *     inside guard bytes (config_guard()): a larger PyConfig in the library
 *     would overwrite the guard;
 *   - calls back into Python (call()) and creates and runs code objects
 *     (compile_exec(), empty_code()) while the perf trampoline is active.
 */
#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "structmember.h"          /* PyMemberDef in 3.11 */

#include <stddef.h>
#include <string.h>

/* ---- layout(): compile-time sizes and offsets ------------------------- */

static int
add_number(PyObject *dict, const char *key, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(dict, key, v);
    Py_DECREF(v);
    return rc;
}

/* Every field of the structures whose layout the issue names, as
   declared in 3.11.2's public headers (Include/cpython/initconfig.h,
   code.h, pystate.h).  A field added anywhere, even one that only fills
   padding, moves the offset of some field listed here. */
#define PYCONFIG_FIELDS(X) \
    X(_config_init) X(isolated) X(use_environment) X(dev_mode) \
    X(install_signal_handlers) X(use_hash_seed) X(hash_seed) \
    X(faulthandler) X(tracemalloc) X(import_time) X(code_debug_ranges) \
    X(show_ref_count) X(dump_refs) X(dump_refs_file) X(malloc_stats) \
    X(filesystem_encoding) X(filesystem_errors) X(pycache_prefix) \
    X(parse_argv) X(orig_argv) X(argv) X(xoptions) X(warnoptions) \
    X(site_import) X(bytes_warning) X(warn_default_encoding) X(inspect) \
    X(interactive) X(optimization_level) X(parser_debug) \
    X(write_bytecode) X(verbose) X(quiet) X(user_site_directory) \
    X(configure_c_stdio) X(buffered_stdio) X(stdio_encoding) \
    X(stdio_errors) X(check_hash_pycs_mode) X(use_frozen_modules) \
    X(safe_path) X(pathconfig_warnings) X(program_name) \
    X(pythonpath_env) X(home) X(platlibdir) X(module_search_paths_set) \
    X(module_search_paths) X(stdlib_dir) X(executable) \
    X(base_executable) X(prefix) X(base_prefix) X(exec_prefix) \
    X(base_exec_prefix) X(skip_source_first_line) X(run_command) \
    X(run_module) X(run_filename) X(_install_importlib) X(_init_main) \
    X(_isolated_interpreter) X(_is_python_build)

#define PYCODE_FIELDS(X) \
    X(co_consts) X(co_names) X(co_exceptiontable) X(co_flags) \
    X(co_warmup) X(_co_linearray_entry_size) X(co_argcount) \
    X(co_posonlyargcount) X(co_kwonlyargcount) X(co_stacksize) \
    X(co_firstlineno) X(co_nlocalsplus) X(co_nlocals) \
    X(co_nplaincellvars) X(co_ncellvars) X(co_nfreevars) \
    X(co_localsplusnames) X(co_localspluskinds) X(co_filename) \
    X(co_name) X(co_qualname) X(co_linetable) X(co_weakreflist) \
    X(_co_code) X(_co_linearray) X(_co_firsttraceable) X(co_extra) \
    X(co_code_adaptive)

#define PYTHREADSTATE_FIELDS(X) \
    X(prev) X(next) X(interp) X(_initialized) X(_static) \
    X(recursion_remaining) X(recursion_limit) X(recursion_headroom) \
    X(tracing) X(tracing_what) X(cframe) X(c_profilefunc) \
    X(c_tracefunc) X(c_profileobj) X(c_traceobj) X(curexc_type) \
    X(curexc_value) X(curexc_traceback) X(exc_info) X(dict) \
    X(gilstate_counter) X(async_exc) X(thread_id) X(native_thread_id) \
    X(trash_delete_nesting) X(trash_delete_later) X(on_delete) \
    X(on_delete_data) X(coroutine_origin_tracking_depth) \
    X(async_gen_firstiter) X(async_gen_finalizer) X(context) \
    X(context_ver) X(id) X(trace_info) X(datastack_chunk) \
    X(datastack_top) X(datastack_limit) X(exc_state) X(root_cframe)

#define SIZE(T) \
    if (add_number(d, "sizeof(" #T ")", (long long)sizeof(T)) < 0) goto error
#define OFF(T, F) \
    if (add_number(d, "offsetof(" #T ", " #F ")", \
                   (long long)offsetof(T, F)) < 0) goto error
#define OFF_CONFIG(F) OFF(PyConfig, F);
#define OFF_CODE(F) OFF(PyCodeObject, F);
#define OFF_TSTATE(F) OFF(PyThreadState, F);

static PyObject *
layout(PyObject *self, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    SIZE(PyConfig);
    PYCONFIG_FIELDS(OFF_CONFIG)
    SIZE(PyPreConfig);
    SIZE(PyStatus);
    SIZE(PyWideStringList);

    SIZE(PyCodeObject);
    PYCODE_FIELDS(OFF_CODE)

    SIZE(PyThreadState);
    PYTHREADSTATE_FIELDS(OFF_TSTATE)
    SIZE(_PyCFrame);
    SIZE(_PyErr_StackItem);
    SIZE(PyTraceInfo);

    /* Other public object structures. */
    SIZE(PyObject);
    SIZE(PyVarObject);
    SIZE(PyTypeObject);
    SIZE(PyHeapTypeObject);
    OFF(PyTypeObject, tp_vectorcall);
    SIZE(PyFunctionObject);
    OFF(PyFunctionObject, func_code);
    OFF(PyFunctionObject, func_qualname);
    OFF(PyFunctionObject, vectorcall);
    OFF(PyFunctionObject, func_version);
    SIZE(PyCFunctionObject);
    SIZE(PyMethodObject);
    /* Generators and coroutines: profilers read their frames in place. */
    SIZE(PyGenObject);
    OFF(PyGenObject, gi_code);
    OFF(PyGenObject, gi_origin_or_finalizer);
    OFF(PyGenObject, gi_frame_state);
    OFF(PyGenObject, gi_iframe);
    SIZE(PyCoroObject);
    OFF(PyCoroObject, cr_frame_state);
    OFF(PyCoroObject, cr_iframe);
    SIZE(PyAsyncGenObject);
    OFF(PyAsyncGenObject, ag_frame_state);
    OFF(PyAsyncGenObject, ag_iframe);
    OFF(PyAsyncGenObject, ag_running_async);
    SIZE(PyModuleDef);
    SIZE(PyMethodDef);
    SIZE(PyMemberDef);
    SIZE(PyGetSetDef);
    SIZE(PyType_Spec);
    SIZE(PyDictObject);
    SIZE(PyListObject);
    SIZE(PyTupleObject);
    SIZE(PyASCIIObject);
    SIZE(PyCompactUnicodeObject);
    SIZE(PyLongObject);
    SIZE(Py_buffer);
    return d;

error:
    Py_DECREF(d);
    return NULL;
}

/* ---- runtime(): live state read through compile-time offsets ---------- */

static PyObject *
wstr(const wchar_t *s)
{
    if (s == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_FromWideChar(s, -1);
}

static PyObject *
wlist(const PyWideStringList *list)
{
    PyObject *out = PyList_New(list->length);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < list->length; i++) {
        PyObject *item = wstr(list->items[i]);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

static int
put(PyObject *dict, const char *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

#define PUT(key, expr) if (put(d, key, (expr)) < 0) goto error

static PyObject *
obj(PyObject *o)
{
    return Py_NewRef(o != NULL ? o : Py_None);
}

#define INT(key, v) PUT(key, PyLong_FromLong(v))
#define BOOL(key, v) PUT(key, PyBool_FromLong(v))

static PyObject *
runtime(PyObject *self, PyObject *unused)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    const PyConfig *c = _PyInterpreterState_GetConfig(interp);
    PyThreadState *ts = PyThreadState_Get();
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    /* PyConfig of the running interpreter, read at our offsets. */
    INT("config.isolated", c->isolated);
    INT("config.use_environment", c->use_environment);
    INT("config.dev_mode", c->dev_mode);
    INT("config.install_signal_handlers", c->install_signal_handlers);
    INT("config.faulthandler", c->faulthandler);
    INT("config.tracemalloc", c->tracemalloc);
    INT("config.import_time", c->import_time);
    PUT("config.filesystem_encoding", wstr(c->filesystem_encoding));
    PUT("config.filesystem_errors", wstr(c->filesystem_errors));
    PUT("config.pycache_prefix", wstr(c->pycache_prefix));
    INT("config.parse_argv", c->parse_argv);
    PUT("config.orig_argv", wlist(&c->orig_argv));
    PUT("config.argv", wlist(&c->argv));
    PUT("config.xoptions", wlist(&c->xoptions));
    PUT("config.warnoptions", wlist(&c->warnoptions));
    INT("config.site_import", c->site_import);
    INT("config.bytes_warning", c->bytes_warning);
    INT("config.warn_default_encoding", c->warn_default_encoding);
    INT("config.inspect", c->inspect);
    INT("config.interactive", c->interactive);
    INT("config.optimization_level", c->optimization_level);
    INT("config.write_bytecode", c->write_bytecode);
    INT("config.verbose", c->verbose);
    INT("config.quiet", c->quiet);
    INT("config.user_site_directory", c->user_site_directory);
    INT("config.safe_path", c->safe_path);
    INT("config.pathconfig_warnings", c->pathconfig_warnings);
    PUT("config.platlibdir", wstr(c->platlibdir));
    INT("config.module_search_paths_set", c->module_search_paths_set);
    PUT("config.stdlib_dir", wstr(c->stdlib_dir));
    PUT("config.executable", wstr(c->executable));
    PUT("config.base_executable", wstr(c->base_executable));
    PUT("config.prefix", wstr(c->prefix));
    PUT("config.base_prefix", wstr(c->base_prefix));
    PUT("config.exec_prefix", wstr(c->exec_prefix));
    PUT("config.base_exec_prefix", wstr(c->base_exec_prefix));
    INT("config.skip_source_first_line", c->skip_source_first_line);
    PUT("config.run_command", wstr(c->run_command));
    PUT("config.run_module", wstr(c->run_module));
    PUT("config.run_filename", wstr(c->run_filename));
    INT("config._install_importlib", c->_install_importlib);
    INT("config._init_main", c->_init_main);
    INT("config._isolated_interpreter", c->_isolated_interpreter);
    INT("config._is_python_build", c->_is_python_build);

    /* PyThreadState of this thread, read at our offsets. */
    BOOL("ts.interp_is_current", ts->interp == interp);
    BOOL("ts.interp_matches_api", ts->interp == PyThreadState_GetInterpreter(ts));
    INT("ts.recursion_limit", ts->recursion_limit);
    BOOL("ts.cframe_set", ts->cframe != NULL);
    PUT("ts.c_profileobj", obj(ts->c_profileobj));
    PUT("ts.c_traceobj", obj(ts->c_traceobj));
    BOOL("ts.c_profilefunc_set", ts->c_profilefunc != NULL);
    BOOL("ts.curexc_clear", ts->curexc_type == NULL);
    PUT("ts.exc_info.exc_value",
        obj(ts->exc_info != NULL ? ts->exc_info->exc_value : NULL));
    PyObject *tsdict = PyThreadState_GetDict();   /* borrowed */
    BOOL("ts.dict_matches", tsdict != NULL && ts->dict == tsdict);
    PUT("ts.thread_id", PyLong_FromUnsignedLong(ts->thread_id));
    PUT("ts.native_thread_id", PyLong_FromUnsignedLong(ts->native_thread_id));
    INT("ts.coroutine_origin_tracking_depth",
        ts->coroutine_origin_tracking_depth);
    PUT("ts.async_gen_firstiter", obj(ts->async_gen_firstiter));
    PUT("ts.async_gen_finalizer", obj(ts->async_gen_finalizer));
    BOOL("ts.id_matches", ts->id == PyThreadState_GetID(ts));
    BOOL("ts.datastack_sane",
         ts->datastack_chunk != NULL && ts->datastack_top != NULL
         && ts->datastack_limit != NULL
         && ts->datastack_top <= ts->datastack_limit);
    return d;

error:
    Py_DECREF(d);
    return NULL;
}

/* ---- config_guard(): the library writes a PyConfig of our size -------- */

#define GUARD_BYTES 256

static PyObject *
config_guard(PyObject *self, PyObject *unused)
{
    unsigned char *buf = PyMem_RawMalloc(sizeof(PyConfig) + GUARD_BYTES);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    memset(buf, 0xA5, sizeof(PyConfig) + GUARD_BYTES);
    PyConfig *config = (PyConfig *)buf;
    PyConfig_InitIsolatedConfig(config);
    PyStatus status = PyConfig_SetString(config, &config->run_filename,
                                         L"abiprobe-guard.py");
    int set_ok = !PyStatus_Exception(status);
    int values_ok = (config->isolated == 1 && config->use_environment == 0
                     && config->_install_importlib == 1
                     && config->_init_main == 1
                     && config->_is_python_build == 0
                     && config->run_filename != NULL
                     && wcscmp(config->run_filename, L"abiprobe-guard.py") == 0);
    PyConfig_Clear(config);
    int cleared_ok = (config->run_filename == NULL);
    int guard_ok = 1;
    for (size_t i = sizeof(PyConfig); i < sizeof(PyConfig) + GUARD_BYTES; i++) {
        if (buf[i] != 0xA5) {
            guard_ok = 0;
            break;
        }
    }
    PyMem_RawFree(buf);
    return Py_BuildValue("{s:O,s:O,s:O,s:O}",
                         "guard_intact", guard_ok ? Py_True : Py_False,
                         "values_as_expected", values_ok ? Py_True : Py_False,
                         "set_string_ok", set_ok ? Py_True : Py_False,
                         "clear_ok", cleared_ok ? Py_True : Py_False);
}

/* ---- code objects ----------------------------------------------------- */

static PyObject *
code_fields(PyObject *self, PyObject *arg)
{
    if (!PyCode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "code object expected");
        return NULL;
    }
    PyCodeObject *co = (PyCodeObject *)arg;
    PyObject *code = PyCode_GetCode(co);
    if (code == NULL) {
        return NULL;
    }
    /* co_code_adaptive holds Py_SIZE(co) code units.  PyCode_GetCode
       returns them unspecialized, so the two are equal byte for byte
       until the code warms up and gets quickened (RESUME -> RESUME_QUICK,
       specialized instructions, inline caches). */
    int adaptive_len_ok = (PyBytes_GET_SIZE(code)
                           == Py_SIZE(co) * (Py_ssize_t)sizeof(_Py_CODEUNIT));
    int adaptive_equal = (adaptive_len_ok
                          && memcmp(co->co_code_adaptive,
                                    PyBytes_AS_STRING(code),
                                    PyBytes_GET_SIZE(code)) == 0);
    Py_DECREF(code);
    return Py_BuildValue(
        "{s:O,s:O,s:O,s:i,s:i,s:i,s:i,s:i,s:O,s:O,s:O}",
        "co_qualname", co->co_qualname,
        "co_name", co->co_name,
        "co_filename", co->co_filename,
        "co_firstlineno", co->co_firstlineno,
        "co_argcount", co->co_argcount,
        "co_flags", co->co_flags,
        "co_stacksize", co->co_stacksize,
        "co_nlocals", co->co_nlocals,
        "co_consts", co->co_consts,
        "adaptive_len_ok", adaptive_len_ok ? Py_True : Py_False,
        "adaptive_equals_code", adaptive_equal ? Py_True : Py_False);
}

static PyObject *
new_globals(void)
{
    PyObject *globals = PyDict_New();
    if (globals == NULL) {
        return NULL;
    }
    if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0) {
        Py_DECREF(globals);
        return NULL;
    }
    return globals;
}

/* compile_exec(source, filename) -> globals after running it */
static PyObject *
compile_exec(PyObject *self, PyObject *args)
{
    const char *source, *filename;
    if (!PyArg_ParseTuple(args, "ss", &source, &filename)) {
        return NULL;
    }
    PyObject *code = Py_CompileString(source, filename, Py_file_input);
    if (code == NULL) {
        return NULL;
    }
    PyObject *globals = new_globals();
    if (globals == NULL) {
        Py_DECREF(code);
        return NULL;
    }
    PyObject *res = PyEval_EvalCode(code, globals, globals);
    Py_DECREF(code);
    if (res == NULL) {
        Py_DECREF(globals);
        return NULL;
    }
    Py_DECREF(res);
    return globals;
}

/* empty_code(filename, funcname, firstlineno) -> (code, raised)
   PyCode_NewEmpty's code raises AssertionError when run; run it once. */
static PyObject *
empty_code(PyObject *self, PyObject *args)
{
    const char *filename, *funcname;
    int firstlineno;
    if (!PyArg_ParseTuple(args, "ssi", &filename, &funcname, &firstlineno)) {
        return NULL;
    }
    PyCodeObject *co = PyCode_NewEmpty(filename, funcname, firstlineno);
    if (co == NULL) {
        return NULL;
    }
    PyObject *globals = new_globals();
    if (globals == NULL) {
        Py_DECREF(co);
        return NULL;
    }
    PyObject *res = PyEval_EvalCode((PyObject *)co, globals, globals);
    Py_DECREF(globals);
    int raised_assertion = 0;
    if (res == NULL) {
        raised_assertion = PyErr_ExceptionMatches(PyExc_AssertionError);
        if (!raised_assertion) {
            Py_DECREF(co);
            return NULL;
        }
        PyErr_Clear();
    }
    else {
        Py_DECREF(res);
    }
    return Py_BuildValue("NO", (PyObject *)co,
                         raised_assertion ? Py_True : Py_False);
}

/* call(callable, *args): call back into Python from C. */
static PyObject *
call(PyObject *self, PyObject *args)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "call() needs a callable");
        return NULL;
    }
    PyObject *callable = PyTuple_GET_ITEM(args, 0);
    PyObject *rest = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    if (rest == NULL) {
        return NULL;
    }
    PyObject *res = PyObject_Call(callable, rest, NULL);
    Py_DECREF(rest);
    return res;
}

static PyMethodDef abiprobe_methods[] = {
    {"layout", layout, METH_NOARGS, "compile-time sizes and offsets"},
    {"runtime", runtime, METH_NOARGS, "live state read through our offsets"},
    {"config_guard", config_guard, METH_NOARGS,
     "let the library fill a PyConfig of our size, inside guard bytes"},
    {"code_fields", code_fields, METH_O, "fields of a code object"},
    {"compile_exec", compile_exec, METH_VARARGS,
     "compile and run source, return its globals"},
    {"empty_code", empty_code, METH_VARARGS,
     "PyCode_NewEmpty, run once: (code, raised AssertionError)"},
    {"call", call, METH_VARARGS, "call(f, *args) from C"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef abiprobe_module = {
    PyModuleDef_HEAD_INIT,
    "abiprobe",
    "ABI probe for tests/test_abi.sh",
    0,
    abiprobe_methods,
};

PyMODINIT_FUNC
PyInit_abiprobe(void)
{
    return PyModule_Create(&abiprobe_module);
}
