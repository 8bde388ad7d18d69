/* A single-phase extension whose init imports a pure-Python module, `leakdep`, and keeps what it
 * says (as a cffi extension's init imports _cffi_backend).  CPython 3.13 runs the init in the
 * main interpreter; each pool of tests/test_import_probe.py has its own build of it beside its
 * own leakdep.py, and must get its own. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef leakext_module = {PyModuleDef_HEAD_INIT, .m_name = "leakext",
                                            .m_size = -1};

PyMODINIT_FUNC PyInit_leakext(void)
{
    PyObject *dep = PyImport_ImportModule("leakdep");
    PyObject *secret = dep ? PyObject_GetAttrString(dep, "SECRET") : NULL;
    Py_XDECREF(dep);
    PyObject *module = secret ? PyModule_Create(&leakext_module) : NULL;
    if (module && PyModule_AddObjectRef(module, "SECRET", secret) < 0)
        Py_CLEAR(module);
    Py_XDECREF(secret);
    return module;
}
