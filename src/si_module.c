/* si_module.c — the `_subinterp` module: definition, state, exec slot (see si_module.h). */
#include "si_module.h"
#include "si_extpath.h"
#include "si_app.h"
#include "si_shared.h"
#include "si_input.h"
#include "si_errors.h"
#include "si_response.h"
#include "si_file_wrapper.h"

static int module_exec(PyObject *module)
{
    si_module_state *st = PyModule_GetState(module);
#define SI_MAKE_TYPE(field, spec, name)                                                    \
    st->field = (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec, NULL);             \
    if (!st->field || PyModule_AddType(module, st->field) < 0)                            \
        return -1;
    SI_MAKE_TYPE(input_type, si_input_spec, "Input")
    SI_MAKE_TYPE(errors_type, si_errors_spec, "Errors")
    SI_MAKE_TYPE(start_response_type, si_start_response_spec, "StartResponse")
    SI_MAKE_TYPE(file_wrapper_type, si_file_wrapper_spec, "FileWrapper")
#undef SI_MAKE_TYPE
    /* A BaseException, like KeyboardInterrupt: an app's `except Exception` must not swallow it. */
    st->request_timeout_type = (PyTypeObject *)PyErr_NewExceptionWithDoc(
        "_subinterp.RequestTimeout", "The request ran past its pool's request-timeout.",
        PyExc_BaseException, NULL);
    if (!st->request_timeout_type
        || PyModule_AddObjectRef(module, "RequestTimeout",
                                 (PyObject *)st->request_timeout_type) < 0)
        return -1;

#define SI_INTERN_KEY(field, text) \
    if (!(st->field = PyUnicode_InternFromString(text))) return -1;
    SI_ENVIRON_KEYS(SI_INTERN_KEY)
#undef SI_INTERN_KEY

    if (si_shared_module_exec(module, st) < 0)
        return -1;

    st->wsgi_version_value = Py_BuildValue("(ii)", 1, 0);
    st->version_value = PyUnicode_FromString(SI_VERSION);
    if (!st->wsgi_version_value || !st->version_value)
        return -1;
    return PyModule_AddStringConstant(module, "version", SI_VERSION);
}

static int module_traverse(PyObject *module, visitproc visit, void *arg)
{
    si_module_state *st = PyModule_GetState(module);
    Py_VISIT(st->input_type);
    Py_VISIT(st->errors_type);
    Py_VISIT(st->start_response_type);
    Py_VISIT(st->file_wrapper_type);
    Py_VISIT(st->request_timeout_type);
    Py_VISIT(st->wsgi_version_value);
    Py_VISIT(st->version_value);
    Py_VISIT(st->server_software);
    Py_VISIT(st->cache_type);
    Py_VISIT(st->queue_type);
    Py_VISIT(st->shared);
    Py_VISIT(st->poll);
    return 0;
}

static int module_clear(PyObject *module)
{
    si_module_state *st = PyModule_GetState(module);
    Py_CLEAR(st->input_type);
    Py_CLEAR(st->errors_type);
    Py_CLEAR(st->start_response_type);
    Py_CLEAR(st->file_wrapper_type);
    Py_CLEAR(st->request_timeout_type);
    Py_CLEAR(st->wsgi_version_value);
    Py_CLEAR(st->version_value);
    Py_CLEAR(st->server_software);
    Py_CLEAR(st->cache_type);
    Py_CLEAR(st->queue_type);
    Py_CLEAR(st->shared);
    Py_CLEAR(st->poll);
#define SI_CLEAR_KEY(field, text) Py_CLEAR(st->field);
    SI_ENVIRON_KEYS(SI_CLEAR_KEY)
#undef SI_CLEAR_KEY
    return 0;
}

static void module_free(void *module)
{
    module_clear(module);
}

static PyMethodDef module_methods[] = {
    {"_pool_paths_for_extension_init", si_extpath_paths, METH_NOARGS,
     "the paths of the pool an extension's init runs for in the main interpreter, or None"},
    {"_extension_init_found", si_extpath_note_found, METH_O,
     "notes a top-level module the main interpreter's finder found for the init under way"},
    {"_extension_init", si_extpath_mark_init, METH_O,
     "marks this thread as running an extension's init for this interpreter (or no longer)"},
    {"_signal_ignored", si_app_signal_ignored, METH_VARARGS,
     "logs that a module's signal.signal() call was ignored (SI0320)"},
    {NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_subinterp",
    .m_doc = "mod_subinterp's per-interpreter WSGI support types.",
    .m_size = sizeof(si_module_state),
    .m_slots = module_slots,
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyObject *si_module_init(void)
{
    return PyModuleDef_Init(&module_def);
}

PyObject *si_module_import(si_module_state **state)
{
    PyObject *module = PyImport_ImportModule("_subinterp");
    if (module)
        *state = PyModule_GetState(module);
    return module;
}
