/* An extension that loads in the first interpreter of a process only, as numpy's does: it says
 * it supports several interpreters, then refuses in its exec after the first. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int loaded;

static int oncext_exec(PyObject *module)
{
    if (loaded++) {
        PyErr_SetString(PyExc_ImportError, "cannot load module more than once per process");
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot oncext_slots[] = {
    {Py_mod_exec, oncext_exec},
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef oncext_module = {PyModuleDef_HEAD_INIT, .m_name = "oncext",
                                           .m_slots = oncext_slots};

PyMODINIT_FUNC PyInit_oncext(void)
{
    return PyModuleDef_Init(&oncext_module);
}
