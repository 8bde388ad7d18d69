/* A C extension that aborts the process when imported anywhere but the main interpreter, as
 * some extensions do instead of refusing (tests/test_import_probe.py builds it). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

static int crashy_exec(PyObject *module)
{
    if (PyInterpreterState_Get() != PyInterpreterState_Main())
        abort();
    return PyModule_AddIntConstant(module, "loaded", 1);
}

static PyModuleDef_Slot crashy_slots[] = {
    {Py_mod_exec, crashy_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef crashy_module = {
    PyModuleDef_HEAD_INIT, .m_name = "crashy", .m_slots = crashy_slots,
};

PyMODINIT_FUNC PyInit_crashy(void)
{
    return PyModuleDef_Init(&crashy_module);
}
