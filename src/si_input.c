/* si_input.c — wsgi.input: the request body, read through Apache's input filters.
 *
 * Apache's HTTP_IN filter removes chunked framing and enforces LimitRequestBody, so the app sees
 * the body bytes only, and reads end at the body's end (PEP 3333 via wsgi.input_terminated).
 * Every read from the socket releases the interpreter's GIL: a slow client stalls only its own
 * request.  Bytes read past what the caller asked for stay in a small buffer for the next call.
 */
#include "si_input.h"

#include "http_protocol.h"

#define SI_READ_BLOCK 65536

typedef struct {
    PyObject_HEAD
    si_request *req;             /* NULL once the request is over */
    char *buf;                   /* bytes read from Apache, not yet returned */
    Py_ssize_t start, end, cap;
} si_input;

static int input_check(si_input *self)
{
    if (!self->req) {
        PyErr_SetString(PyExc_ValueError, "wsgi.input used after its request ended");
        return -1;
    }
    return 0;
}

static int buffer_reserve(si_input *self, Py_ssize_t more)
{
    if (self->start > 0 && self->start == self->end)
        self->start = self->end = 0;
    if (self->end + more <= self->cap)
        return 0;
    Py_ssize_t live = self->end - self->start;
    if (self->start > 0) {
        memmove(self->buf, self->buf + self->start, live);
        self->start = 0;
        self->end = live;
        if (self->end + more <= self->cap)
            return 0;
    }
    Py_ssize_t cap = self->cap ? self->cap : SI_READ_BLOCK;
    while (cap < self->end + more)
        cap *= 2;
    char *buf = PyMem_Realloc(self->buf, cap);
    if (!buf) {
        PyErr_NoMemory();
        return -1;
    }
    self->buf = buf;
    self->cap = cap;
    return 0;
}

/* Moves up to `want` bytes from the front of bb to dst, leaving the rest in bb for the next call
 * (a filter may return more than it was asked for).  *eos when the body ended. */
static apr_status_t drain(apr_bucket_brigade *bb, char *dst, apr_size_t want, apr_size_t *got,
                          int *eos)
{
    while (!APR_BRIGADE_EMPTY(bb) && *got < want) {
        apr_bucket *b = APR_BRIGADE_FIRST(bb);
        if (APR_BUCKET_IS_EOS(b)) {
            *eos = 1;
            apr_bucket_delete(b);
            return APR_SUCCESS;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            apr_bucket_delete(b);
            continue;
        }
        const char *data;
        apr_size_t len;
        apr_status_t rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS)
            return rv;
        if (len > want - *got) {
            apr_bucket_split(b, want - *got);
            len = want - *got;
        }
        memcpy(dst + *got, data, len);
        *got += len;
        apr_bucket_delete(b);
    }
    return APR_SUCCESS;
}

/* Appends up to `want` more body bytes to the buffer.  Returns bytes added, 0 at the end of the
 * body, -1 with an exception set if the client went away, the body is malformed, or the request
 * ended (an app thread reading after its request). */
static Py_ssize_t fill(si_input *self, Py_ssize_t want)
{
    si_request *req = self->req;
    if (!req)
        return input_check(self);
    if (si_request_io_begin(req) < 0)
        return -1;
    if (req->input_eos) {
        si_request_io_end(req);
        return 0;
    }
    /* Ask Apache for what the caller wants, within bounds: huge sizes must not preallocate. */
    if (want < SI_READ_BLOCK)
        want = SI_READ_BLOCK;
    else if (want > 16 * SI_READ_BLOCK)
        want = 16 * SI_READ_BLOCK;
    if (buffer_reserve(self, want) < 0) {
        si_request_io_end(req);
        return -1;
    }

    request_rec *r = req->r;
    apr_status_t rv = APR_SUCCESS;
    apr_size_t got = 0;
    int eos = 0;
    char *dst = self->buf + self->end;   /* the guard keeps every other reader out of the buffer */
    PyThreadState *state = si_tstate_suspend();
    if (APR_BRIGADE_EMPTY(req->in))
        rv = ap_get_brigade(r->input_filters, req->in, AP_MODE_READBYTES, APR_BLOCK_READ, want);
    if (rv == APR_SUCCESS)
        rv = drain(req->in, dst, (apr_size_t)want, &got, &eos);
    if (rv != APR_SUCCESS)
        apr_brigade_cleanup(req->in);
    si_tstate_resume(state);

    if (rv != APR_SUCCESS) {
        char msg[120];
        /* AP_FILTER_ERROR: HTTP_IN refused the body (over LimitRequestBody, bad chunking) and
         * has already answered the client; nothing the app produces may follow that answer. */
        req->input_status = rv == AP_FILTER_ERROR ? AP_FILTER_ERROR
                            : rv == APR_ENOSPC ? HTTP_REQUEST_ENTITY_TOO_LARGE
                            : rv == APR_EINVAL ? HTTP_BAD_REQUEST : 0;
        si_cgi_body_read_failed(r, rv, msg, sizeof(msg));
        req->input_eos = 1;
        si_request_io_end(req);
        PyErr_Format(PyExc_OSError, "request body could not be read: %s", msg);
        return -1;
    }
    self->end += got;
    if (eos || got == 0)
        req->input_eos = 1;
    si_request_io_end(req);
    return (Py_ssize_t)got;
}

static PyObject *take(si_input *self, Py_ssize_t n)
{
    PyObject *bytes = PyBytes_FromStringAndSize(self->buf + self->start, n);
    if (bytes)
        self->start += n;
    return bytes;
}

/* The optional size/hint argument of read(), readline() and readlines(): None or absent is -1. */
static int size_arg(const char *method, PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
    if (nargs > 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 1 argument (%zd given)", method, nargs);
        return -1;
    }
    PyObject *arg = nargs ? args[0] : NULL;
    if (arg == NULL || arg == Py_None) {
        *size = -1;
        return 0;
    }
    *size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    return (*size == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *input_read(si_input *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (input_check(self) < 0 || size_arg("read", args, nargs, &size) < 0)
        return NULL;
    for (;;) {
        Py_ssize_t have = self->end - self->start;
        if (size >= 0 && have >= size)
            return take(self, size);
        Py_ssize_t got = fill(self, size >= 0 ? size - have : SI_READ_BLOCK);
        if (got < 0)
            return NULL;
        if (got == 0)
            return take(self, self->end - self->start);
    }
}

static PyObject *readline(si_input *self, Py_ssize_t size)
{
    Py_ssize_t scanned = 0;
    for (;;) {
        Py_ssize_t have = self->end - self->start;
        Py_ssize_t limit = (size >= 0 && size < have) ? size : have;
        if (scanned > limit)
            scanned = 0;   /* another thread of the app took from the buffer while we read */
        const char *nl = memchr(self->buf + self->start + scanned, '\n', limit - scanned);
        if (nl)
            return take(self, nl - (self->buf + self->start) + 1);
        if (size >= 0 && have >= size)
            return take(self, size);
        scanned = limit;
        Py_ssize_t got = fill(self, SI_READ_BLOCK);
        if (got < 0)
            return NULL;
        if (got == 0)
            return take(self, self->end - self->start);
    }
}

static PyObject *input_readline(si_input *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (input_check(self) < 0 || size_arg("readline", args, nargs, &size) < 0)
        return NULL;
    return readline(self, size);
}

static PyObject *input_readlines(si_input *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint;
    if (input_check(self) < 0 || size_arg("readlines", args, nargs, &hint) < 0)
        return NULL;
    PyObject *lines = PyList_New(0);
    Py_ssize_t total = 0;
    while (lines) {
        PyObject *line = readline(self, -1);
        if (!line) {
            Py_CLEAR(lines);
            break;
        }
        Py_ssize_t len = PyBytes_GET_SIZE(line);
        if (len == 0) {
            Py_DECREF(line);
            break;
        }
        int rc = PyList_Append(lines, line);
        Py_DECREF(line);
        if (rc < 0) {
            Py_CLEAR(lines);
            break;
        }
        total += len;
        if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *input_iternext(si_input *self)
{
    if (input_check(self) < 0)
        return NULL;
    PyObject *line = readline(self, -1);
    if (line && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL;   /* StopIteration */
    }
    return line;
}

static PyObject *input_close(si_input *self, PyObject *unused)
{
    /* PEP 3333: the server closes the input stream; an app-initiated close is a no-op. */
    Py_RETURN_NONE;
}

static void input_dealloc(si_input *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyMem_Free(self->buf);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL,
     "read([size]) -> bytes: up to size bytes of the body, all of the rest without size"},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
     "readline([size]) -> bytes: one line, at most size bytes"},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
     "readlines([hint]) -> list of lines, stopping once hint bytes were read"},
    {"close", (PyCFunction)input_close, METH_NOARGS, "does nothing: the server closes the input"},
    {NULL},
};

static PyType_Slot input_slots[] = {
    {Py_tp_dealloc, input_dealloc},
    {Py_tp_methods, input_methods},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, input_iternext},
    {Py_tp_doc, "wsgi.input: the request body"},
    {0, NULL},
};

PyType_Spec si_input_spec = {
    .name = "_subinterp.Input",
    .basicsize = sizeof(si_input),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = input_slots,
};

PyObject *si_input_new(si_request *req)
{
    si_input *self = PyObject_New(si_input, req->st->input_type);
    if (!self)
        return NULL;
    self->req = req;
    self->buf = NULL;
    self->start = self->end = self->cap = 0;
    return (PyObject *)self;
}

void si_input_detach(PyObject *input)
{
    ((si_input *)input)->req = NULL;
}
