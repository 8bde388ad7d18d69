/* si_errors.c — wsgi.errors: text the app writes goes to Apache's error log.
 *
 * PEP 3333 makes wsgi.errors a text stream.  What a write() completes (up to its last newline)
 * becomes one log entry, so a logging record with its traceback -- which logging.StreamHandler
 * writes in one call -- stays one entry; a partial line waits for its end, flush() or the end of
 * the request.  The text is the app's own, so it carries no SI code: it is logged at level
 * error, tagged with the client of the request.  The same type serves as each interpreter's
 * sys.stdout (level notice, which Apache always logs) and sys.stderr (warn), against the request
 * the writing thread runs, if any, else the server of the pool.  Every line starts with the
 * pool and interpreter ("[pool blog:0] "), so that in a log that several sites share, each
 * line says whose it is, at import too.
 */
#include "si_errors.h"

#include "pythread.h"

typedef struct {
    PyObject_HEAD
    si_request *req;             /* NULL once the request is over */
    server_rec *server;          /* for writes after the request ended */
    PyObject *pending;           /* str: a line not yet ended, or NULL */
    int level;                   /* APLOG_ERR; sys.stdout APLOG_NOTICE, sys.stderr APLOG_WARNING */
    int is_stream;               /* sys.stdout/stderr: logs against whatever request this
                                  * thread runs in this interpreter */
    const char *pool;            /* the interpreter's pool (configuration memory) */
    int index;                   /* and its index there */
} si_errors;

/* A partial line longer than this is logged as it is: a line never grows without bound. */
#define SI_PENDING_MAX 8192

/* Logging with r allocates from r->pool (ErrorLogFormat, log ids): only inside the request's
 * I/O guard, or on the request's own thread once app threads are shut out (detach). */
static void log_line(si_errors *self, const char *text, Py_ssize_t len)
{
    si_request *req = self->is_stream ? si_request_running_here() : self->req;
    int level = self->level;
    const char *pool = req && req->pool_name ? req->pool_name : self->pool;
    int index = req && req->pool_name ? req->pool_index : self->index;
    if (req && req->io_ended && req->thread_ident == PyThread_get_thread_ident()) {
        ap_log_rerror(APLOG_MARK, level, 0, req->r, "[pool %s:%d] %.*s", pool, index, (int)len,
                      text);
        return;
    }
    if (req && si_request_io_begin(req) == 0) {
        ap_log_rerror(APLOG_MARK, level, 0, req->r, "[pool %s:%d] %.*s", pool, index, (int)len,
                      text);
        si_request_io_end(req);
        return;
    }
    if (req)
        PyErr_Clear();   /* ended meanwhile: the line still goes to the server's log */
    ap_log_error(APLOG_MARK, level, 0, self->server, "[pool %s:%d] %.*s", pool, index, (int)len,
                 text);
}

/* Logs the complete lines of self->pending as one entry (all of it when `all`), keeping the
 * rest. */
static int emit(si_errors *self, int all)
{
    if (!self->pending)
        return 0;
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(self->pending, &size);
    if (!text)
        return -1;
    Py_ssize_t pos = 0;
    for (Py_ssize_t i = size; i > 0; i--) {
        if (text[i - 1] == '\n') {
            log_line(self, text, i - 1);
            pos = i;
            break;
        }
    }
    if (all && pos < size) {
        log_line(self, text + pos, size - pos);
        pos = size;
    }
    PyObject *rest = pos < size ? PyUnicode_FromStringAndSize(text + pos, size - pos) : NULL;
    if (pos < size && !rest)
        return -1;
    Py_SETREF(self->pending, rest);
    return 0;
}

static PyObject *errors_write(si_errors *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "wsgi.errors.write() takes str, not %.100s",
                     Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (self->pending) {
        PyObject *joined = PyUnicode_Concat(self->pending, text);
        if (!joined)
            return NULL;
        Py_SETREF(self->pending, joined);
    }
    else {
        self->pending = Py_NewRef(text);
    }
    if (emit(self, self->pending && PyUnicode_GET_LENGTH(self->pending) > SI_PENDING_MAX) < 0)
        return NULL;
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text));
}

static PyObject *errors_writelines(si_errors *self, PyObject *lines)
{
    PyObject *iter = PyObject_GetIter(lines), *line;
    if (!iter)
        return NULL;
    while ((line = PyIter_Next(iter))) {
        PyObject *rc = errors_write(self, line);
        Py_DECREF(line);
        if (!rc) {
            Py_DECREF(iter);
            return NULL;
        }
        Py_DECREF(rc);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(si_errors *self, PyObject *unused)
{
    if (emit(self, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_true(PyObject *self, PyObject *unused)
{
    Py_RETURN_TRUE;
}

static PyObject *errors_false(PyObject *self, PyObject *unused)
{
    Py_RETURN_FALSE;
}

static void errors_dealloc(si_errors *self)
{
    PyTypeObject *type = Py_TYPE(self);
    if (self->pending && emit(self, 1) < 0)
        PyErr_Clear();
    Py_XDECREF(self->pending);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef errors_methods[] = {
    {"write", (PyCFunction)errors_write, METH_O, "write(str): log complete lines"},
    {"writelines", (PyCFunction)errors_writelines, METH_O, "writelines(iterable of str)"},
    {"flush", (PyCFunction)errors_flush, METH_NOARGS, "log a partial line too"},
    {"writable", errors_true, METH_NOARGS, NULL},
    {"readable", errors_false, METH_NOARGS, NULL},
    {"seekable", errors_false, METH_NOARGS, NULL},
    {"isatty", errors_false, METH_NOARGS, NULL},
    {NULL},
};

static PyType_Slot errors_slots[] = {
    {Py_tp_dealloc, errors_dealloc},
    {Py_tp_methods, errors_methods},
    {Py_tp_doc, "wsgi.errors: a text stream into Apache's error log"},
    {0, NULL},
};

PyType_Spec si_errors_spec = {
    .name = "_subinterp.Errors",
    .basicsize = sizeof(si_errors),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = errors_slots,
};

static PyObject *errors_new(si_module_state *st, si_request *req, server_rec *server, int level)
{
    si_errors *self = PyObject_New(si_errors, st->errors_type);
    if (!self)
        return NULL;
    self->req = req;
    self->server = server;
    self->pending = NULL;
    self->level = level;
    self->is_stream = req == NULL;
    self->pool = st->log_pool ? st->log_pool : "?";   /* a request's own pool goes first */
    self->index = st->log_index;
    return (PyObject *)self;
}

PyObject *si_errors_new(si_request *req)
{
    return errors_new(req->st, req, req->r->server, APLOG_ERR);
}

PyObject *si_errors_stream_new(si_module_state *st, server_rec *server, int level)
{
    return errors_new(st, NULL, server, level);
}

void si_errors_detach(PyObject *errors)
{
    si_errors *self = (si_errors *)errors;
    if (emit(self, 1) < 0)
        PyErr_Clear();
    self->req = NULL;
}
