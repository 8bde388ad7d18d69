/* si_file_wrapper.c — wsgi.file_wrapper: iterate a file-like object in blocks (PEP 3333).
 *
 * The wrapper reads with filelike.read(block_size) until it returns an empty chunk, and its
 * close() calls filelike.close() if it has one, so the server's usual close() call closes it.
 */
#include "si_file_wrapper.h"
#include "si_module.h"

typedef struct {
    PyObject_HEAD
    PyObject *filelike;
    Py_ssize_t block_size;
} si_file_wrapper;

static PyObject *file_wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"filelike", "block_size", NULL};
    PyObject *filelike;
    Py_ssize_t block_size = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|n:file_wrapper", kwlist, &filelike,
                                     &block_size))
        return NULL;
    if (block_size <= 0) {
        PyErr_SetString(PyExc_ValueError, "file_wrapper: block_size must be positive");
        return NULL;
    }
    si_file_wrapper *self = (si_file_wrapper *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->filelike = Py_NewRef(filelike);
    self->block_size = block_size;
    return (PyObject *)self;
}

static PyObject *file_wrapper_next(si_file_wrapper *self)
{
    PyObject *chunk = PyObject_CallMethod(self->filelike, "read", "n", self->block_size);
    if (chunk && PyBytes_Check(chunk) && PyBytes_GET_SIZE(chunk) == 0) {
        Py_DECREF(chunk);
        return NULL;
    }
    return chunk;
}

static PyObject *file_wrapper_close(si_file_wrapper *self, PyObject *unused)
{
    PyObject *close = NULL;
    if (PyObject_GetOptionalAttrString(self->filelike, "close", &close) < 0)
        return NULL;
    if (!close)
        Py_RETURN_NONE;
    PyObject *rc = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    return rc;
}

static int file_wrapper_traverse(si_file_wrapper *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->filelike);
    return 0;
}

static int file_wrapper_clear(si_file_wrapper *self)
{
    Py_CLEAR(self->filelike);
    return 0;
}

static void file_wrapper_dealloc(si_file_wrapper *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    file_wrapper_clear(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef file_wrapper_methods[] = {
    {"close", (PyCFunction)file_wrapper_close, METH_NOARGS, "close the wrapped file-like"},
    {NULL},
};

static PyMemberDef file_wrapper_members[] = {
    {"filelike", Py_T_OBJECT_EX, offsetof(si_file_wrapper, filelike), Py_READONLY, NULL},
    {"block_size", Py_T_PYSSIZET, offsetof(si_file_wrapper, block_size), Py_READONLY, NULL},
    {NULL},
};

static PyType_Slot file_wrapper_slots[] = {
    {Py_tp_new, file_wrapper_new},
    {Py_tp_dealloc, file_wrapper_dealloc},
    {Py_tp_traverse, file_wrapper_traverse},
    {Py_tp_clear, file_wrapper_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, file_wrapper_next},
    {Py_tp_methods, file_wrapper_methods},
    {Py_tp_members, file_wrapper_members},
    {Py_tp_doc, "file_wrapper(filelike, block_size=8192): iterate a file in blocks"},
    {0, NULL},
};

PyType_Spec si_file_wrapper_spec = {
    .name = "_subinterp.FileWrapper",
    .basicsize = sizeof(si_file_wrapper),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = file_wrapper_slots,
};
