/* si_response.c — the response, whole: start_response and its validation, write(), the body
 * iterable, file_wrapper, close(), and what goes out to Apache.
 *
 * start_response validates what it is given when it is called, so the app's traceback points at
 * the bad call; the status and headers reach Apache only with the first non-empty body chunk
 * (PEP 3333: "the server must not send the headers until the first non-empty body chunk").
 * Body writes release the interpreter's GIL around Apache's output filters.
 */
#include "si_response.h"
#include "si_http.h"

#include "http_protocol.h"

#include "util_filter.h"

#include <sys/stat.h>

typedef struct {
    PyObject_HEAD
    si_request *req;             /* NULL once the request is over */
} si_start_response;

/* PEP 3333: the status is a str "NNN Reason-Phrase". */
static int check_status(PyObject *status)
{
    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "start_response: status must be str, not %.100s",
                     Py_TYPE(status)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(status, &len);
    if (!s)
        return -1;
    if (!si_http_is_status_line((const unsigned char *)s, (size_t)len)) {
        PyErr_Format(PyExc_ValueError, "start_response: status %R is not 'NNN Reason' with a "
                     "code from 100 to 599 and no control characters", status);
        return -1;
    }
    if (s[0] == '1') {
        /* RFC 9110 15.2: 1xx responses are interim; the final response must follow.  Apache
         * sends 100 Continue itself when the app reads the body. */
        PyErr_Format(PyExc_ValueError, "start_response: status %R is an interim (1xx) status; "
                     "a WSGI app must give a final status (200-599)", status);
        return -1;
    }
    return 0;
}

/* PEP 3333: a list of (name, value) tuples of native strings; names are tokens, values
 * latin-1 without control characters (no CR/LF: response splitting is impossible), and no
 * hop-by-hop headers. */
static int check_header(PyObject *item)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_Format(PyExc_TypeError, "start_response: header %R is not a (name, value) tuple",
                     item);
        return -1;
    }
    PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
    if (!PyUnicode_Check(name) || !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "start_response: header %R: name and value must be str",
                     item);
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(name);
    if (PyUnicode_KIND(name) != PyUnicode_1BYTE_KIND
        || !si_http_is_token(PyUnicode_1BYTE_DATA(name), (size_t)n)) {
        PyErr_Format(PyExc_ValueError, "start_response: header name %R is not a token "
                     "(RFC 9110)", name);
        return -1;
    }
    const Py_UCS1 *nd = PyUnicode_1BYTE_DATA(name);
    if (si_http_is_hop_by_hop(nd, (size_t)n)) {
        PyErr_Format(PyExc_ValueError, "start_response: hop-by-hop header %R is the server's "
                     "to set (PEP 3333)", name);
        return -1;
    }
    if (PyUnicode_KIND(value) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError, "start_response: value of header %R is not latin-1 "
                     "(encode other text first, e.g. RFC 8187)", name);
        return -1;
    }
    const Py_UCS1 *vd = PyUnicode_1BYTE_DATA(value);
    Py_ssize_t len = PyUnicode_GET_LENGTH(value);
    if (!si_http_is_field_value(vd, (size_t)len)) {
        PyErr_Format(PyExc_ValueError, "start_response: value of header %R contains a "
                     "control character (CR, LF, NUL ...)", name);
        return -1;
    }
    if (strcasecmp((const char *)nd, "Content-Length") == 0) {
        if (!si_http_is_content_length(vd, (size_t)len)) {
            PyErr_Format(PyExc_ValueError, "start_response: Content-Length %R is not a number "
                         "of bytes", value);
            return -1;
        }
    }
    return 0;
}

static int is_content_length(PyObject *item)
{
    PyObject *name = PyTuple_GET_ITEM(item, 0);
    return strcasecmp((const char *)PyUnicode_1BYTE_DATA(name), "Content-Length") == 0;
}

static PyObject *start_response_call(si_start_response *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:start_response", kwlist, &status, &headers,
                                     &exc_info))
        return NULL;
    si_request *req = self->req;
    if (!req) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called after its request ended");
        return NULL;
    }
    if (exc_info != Py_None) {
        if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
            PyErr_SetString(PyExc_TypeError, "start_response: exc_info must be a 3-tuple "
                            "as returned by sys.exc_info()");
            return NULL;
        }
        if (req->headers_sent) {
            /* PEP 3333: too late to change the status; re-raise so the server aborts. */
            PyObject *value = PyTuple_GET_ITEM(exc_info, 1);
            if (PyExceptionInstance_Check(value)) {
                PyErr_SetRaisedException(Py_NewRef(value));
                return NULL;
            }
            PyErr_SetString(PyExc_RuntimeError, "start_response with exc_info after the "
                            "headers were sent");
            return NULL;
        }
    }
    else if (req->status) {
        PyErr_SetString(PyExc_RuntimeError, "start_response called a second time without "
                        "exc_info (PEP 3333)");
        return NULL;
    }
    if (check_status(status) < 0)
        return NULL;
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "start_response: headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return NULL;
    }
    PyObject *copy = PyList_GetSlice(headers, 0, PyList_GET_SIZE(headers));
    if (!copy)
        return NULL;
    int content_lengths = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(copy); i++) {
        PyObject *item = PyList_GET_ITEM(copy, i);
        if (check_header(item) < 0) {
            Py_DECREF(copy);
            return NULL;
        }
        content_lengths += is_content_length(item);
    }
    if (content_lengths > 1) {
        Py_DECREF(copy);
        PyErr_SetString(PyExc_ValueError, "start_response: more than one Content-Length header");
        return NULL;
    }
    Py_XSETREF(req->status, Py_NewRef(status));
    Py_XSETREF(req->headers, copy);
    return PyObject_GetAttr((PyObject *)self, req->st->str_write);
}

static PyObject *start_response_write(si_start_response *self, PyObject *data)
{
    si_request *req = self->req;
    if (!req) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after its request ended");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    /* PEP 3333: write() transmits before it returns. */
    int rc = si_response_write(req, view.buf, view.len, 1);
    PyBuffer_Release(&view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static void start_response_dealloc(si_start_response *self)
{
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef start_response_methods[] = {
    {"write", (PyCFunction)start_response_write, METH_O,
     "write(bytes): the legacy imperative body API of PEP 3333"},
    {NULL},
};

static PyType_Slot start_response_slots[] = {
    {Py_tp_dealloc, start_response_dealloc},
    {Py_tp_call, start_response_call},
    {Py_tp_methods, start_response_methods},
    {Py_tp_doc, "start_response(status, headers, exc_info=None) -> write"},
    {0, NULL},
};

PyType_Spec si_start_response_spec = {
    .name = "_subinterp.StartResponse",
    .basicsize = sizeof(si_start_response),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = start_response_slots,
};

PyObject *si_start_response_new(si_request *req)
{
    si_start_response *self = PyObject_New(si_start_response, req->st->start_response_type);
    if (self)
        self->req = req;
    return (PyObject *)self;
}

void si_start_response_detach(PyObject *start_response)
{
    ((si_start_response *)start_response)->req = NULL;
}

/* Sets r's status and headers from what start_response validated.  Inside the I/O guard. */
static int set_headers(si_request *req)
{
    request_rec *r = req->r;
    if (!req->status) {
        PyErr_SetString(PyExc_RuntimeError, "the app returned a body without calling "
                        "start_response first");
        return -1;
    }
    /* Validated by start_response: ASCII status, latin-1 headers (1-byte kind). */
    const char *status = PyUnicode_AsUTF8(req->status);
    if (!status)
        return -1;
    r->status = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    r->status_line = apr_pstrdup(r->pool, status);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(req->headers); i++) {
        PyObject *item = PyList_GET_ITEM(req->headers, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        const char *n = apr_pstrmemdup(r->pool, (const char *)PyUnicode_1BYTE_DATA(name),
                                       PyUnicode_GET_LENGTH(name));
        const char *v = apr_pstrmemdup(r->pool, (const char *)PyUnicode_1BYTE_DATA(value),
                                       PyUnicode_GET_LENGTH(value));
        if (strcasecmp(n, "Content-Type") == 0) {
            ap_set_content_type(r, v);
        }
        else if (strcasecmp(n, "Content-Length") == 0) {
            req->content_length = apr_atoi64(v);
            ap_set_content_length(r, req->content_length);
        }
        else {
            apr_table_addn(r->headers_out, n, v);
        }
    }
    req->headers_sent = 1;
    return 0;
}

int si_response_send_headers(si_request *req)
{
    if (si_request_io_begin(req) < 0)
        return -1;
    int rc = set_headers(req);
    si_request_io_end(req);
    return rc;
}

/* Passes req->out (plus b, and a FLUSH if asked) down the output filters with the GIL released,
 * inside the I/O guard.  A failure means the client is gone: noted once here, so producers
 * stop. */
static apr_status_t pass(si_request *req, apr_bucket *b, int flush)
{
    request_rec *r = req->r;
    apr_status_t rv;
    if (b)
        APR_BRIGADE_INSERT_TAIL(req->out, b);
    if (flush)
        APR_BRIGADE_INSERT_TAIL(req->out, apr_bucket_flush_create(r->connection->bucket_alloc));
    PyThreadState *state = si_tstate_suspend();
    rv = ap_pass_brigade(r->output_filters, req->out);
    apr_brigade_cleanup(req->out);
    si_tstate_resume(state);
    if (rv != APR_SUCCESS && !req->client_gone) {
        req->client_gone = 1;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                      "SI0430: client went away while %s was being sent", r->uri);
    }
    return rv;
}

/* The headers are out; the only honest signal left is an incomplete response.  An error bucket
 * makes the chunk filter omit the last chunk, and the connection is closed.  Inside the guard. */
static void abort_response(si_request *req)
{
    request_rec *r = req->r;
    if (req->response_ended && !req->client_gone)
        return;   /* complete already (close() raised afterwards): the connection is sound */
    r->connection->keepalive = AP_CONN_CLOSE;
    req->response_ended = 1;
    if (req->client_gone)
        return;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    APR_BRIGADE_INSERT_TAIL(req->out, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, ba));
    pass(req, apr_bucket_eos_create(ba), 0);
    req->client_gone = 1;
}

/* After the last byte (EOS, or the abort) nothing more may go out: on a keep-alive connection
 * those bytes would be read as the next response.  Checked inside the guard, never before it:
 * a thread that waited for the guard while the request thread ended the response must see that
 * it ended.  -1 with RuntimeError when it has. */
static int check_open(si_request *req, const char *what)
{
    if (!req->response_ended)
        return 0;
    PyErr_Format(PyExc_RuntimeError, "%s after the response was complete; nothing more can be "
                 "sent", what);
    return -1;
}

/* Inside the guard. */
static int write_locked(si_request *req, const char *data, Py_ssize_t len, int flush)
{
    if (check_open(req, "write()") < 0)
        return -1;
    if (req->input_status == AP_FILTER_ERROR) {
        PyErr_SetString(PyExc_OSError, "the request was refused by Apache while its body was "
                        "read; no response can follow");
        return -1;
    }
    if (!req->headers_sent && set_headers(req) < 0)
        return -1;
    if (req->client_gone) {
        PyErr_SetString(PyExc_OSError, "client connection closed");
        return -1;
    }
    if (req->content_length >= 0 && len > req->content_length - req->body_sent) {
        /* More than the app announced: what goes past it would corrupt the next response on
         * this connection, so it is dropped (and the app's iteration ends). */
        if (!req->overflowed)
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, "SI0402: pool %s: %s (%s) sent more "
                          "than its Content-Length of %" APR_OFF_T_FMT "; the rest is dropped",
                          req->mount->pool_spec->name, req->r->uri, req->mount->script,
                          req->content_length);
        req->overflowed = 1;
        len = (Py_ssize_t)(req->content_length - req->body_sent);
    }
    req->body_sent += len;
    if (len == 0 && !flush)
        return 0;
    /* Transient: a filter that must keep the data past this call copies it. */
    apr_bucket *b = len ? apr_bucket_transient_create(data, len, req->r->connection->bucket_alloc)
                        : NULL;
    if (pass(req, b, flush) != APR_SUCCESS) {
        PyErr_SetString(PyExc_OSError, "client connection closed");
        return -1;
    }
    return 0;
}

int si_response_write(si_request *req, const char *data, Py_ssize_t len, int flush)
{
    if (si_request_io_begin(req) < 0)
        return -1;
    int rc = write_locked(req, data, len, flush);
    si_request_io_end(req);
    return rc;
}

/* A file-like's fileno() and tell(); -1 when it has none (then it is iterated).  Only ordinary
 * exceptions mean "none": a RequestTimeout (a BaseException) stays raised. */
static int file_position(PyObject *filelike, int *fd, long long *position)
{
    PyObject *fileno = PyObject_CallMethod(filelike, "fileno", NULL);
    PyObject *tell = fileno ? PyObject_CallMethod(filelike, "tell", NULL) : NULL;
    *fd = fileno ? PyLong_AsInt(fileno) : -1;
    *position = tell ? PyLong_AsLongLong(tell) : -1;
    Py_XDECREF(fileno);
    Py_XDECREF(tell);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return -2;
        PyErr_Clear();
        return -1;
    }
    return *fd >= 0 && *position >= 0 ? 0 : -1;
}

int si_response_send_file(si_request *req, PyObject *file_wrapper)
{
    request_rec *r = req->r;
    PyObject *filelike = PyObject_GetAttrString(file_wrapper, "filelike");
    if (!filelike)
        return -1;
    /* Only a regular file with a descriptor qualifies; anything else is iterated. */
    int fd;
    long long position;
    int found = file_position(filelike, &fd, &position);
    Py_DECREF(filelike);
    if (found == -2)
        return -1;
    struct stat st;
    if (found < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (si_request_io_begin(req) < 0)
        return -1;
    if (check_open(req, "file_wrapper sent") < 0
        || (!req->headers_sent && set_headers(req) < 0)) {
        si_request_io_end(req);
        return -1;
    }
    apr_off_t count = st.st_size > position ? st.st_size - position : 0;
    if (req->content_length >= 0 && count > req->content_length - req->body_sent)
        count = req->content_length - req->body_sent;   /* PEP 3333: no more than announced */
    else if (req->content_length < 0 && req->body_sent == 0)
        ap_set_content_length(r, count);
    req->body_sent += count;

    /* Apache reads its own duplicate of the descriptor, closed with the request's memory pool:
     * no bucket depends on the app's, which close() may close, even where another thread sends
     * the file later (mod_http2).  The FLUSH still sends every byte before close() (PEP 3333
     * order). */
    apr_file_t *app_file = NULL, *file = NULL;
    apr_os_file_t os_fd = fd;
    if (count > 0) {
        if (apr_os_file_put(&app_file, &os_fd, APR_FOPEN_READ, r->pool) == APR_SUCCESS
            && apr_file_dup(&file, app_file, r->pool) == APR_SUCCESS) {
            apr_brigade_insert_file(req->out, file, position, count, r->pool);
            pass(req, NULL, 1);
        }
        else {
            abort_response(req);   /* Content-Length is promised; never leave it short */
        }
    }
    si_request_io_end(req);
    return 1;
}

/* PEP 3333: the body is an iterable of bytestrings. */
static int check_chunk(si_request *req, PyObject *chunk)
{
    if (PyBytes_Check(chunk))
        return 0;
    PyErr_Format(PyExc_TypeError, "the app's response yielded %.100s, not bytes (PEP 3333 "
                 "bodies are bytestrings; encode text first)", Py_TYPE(chunk)->tp_name);
    return -1;
}

int si_response_send_body(si_request *req, PyObject *result)
{
    if (PyUnicode_Check(result) || PyBytes_Check(result) || result == Py_None) {
        /* Iterating a str or bytes would "work" one character at a time. */
        PyErr_Format(PyExc_TypeError, "the app returned %.100s; PEP 3333 wants an iterable of "
                     "bytestrings, such as [body]", result == Py_None ? "None"
                                                   : Py_TYPE(result)->tp_name);
        return -1;
    }
    if (Py_IS_TYPE(result, req->st->file_wrapper_type)) {
        int sent = si_response_send_file(req, result);
        if (sent != 0)
            return sent < 0 ? -1 : 0;
    }
    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        /* Every block is already there: nothing can delay the next, so no flush per block. */
        PyObject *seq = result;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t i = 0; i < n && i < PySequence_Fast_GET_SIZE(seq); i++) {
            /* Owned while Apache reads it with the GIL released: an app thread may change a
             * list it returned meanwhile. */
            PyObject *chunk = Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
            int rc = check_chunk(req, chunk) < 0
                     || si_response_write(req, PyBytes_AS_STRING(chunk),
                                          PyBytes_GET_SIZE(chunk), 0) < 0 ? -1 : 0;
            Py_DECREF(chunk);
            if (rc < 0)
                return -1;
            if (req->overflowed)
                break;
        }
        return 0;
    }
    PyObject *iter = PyObject_GetIter(result), *chunk;
    if (!iter)
        return -1;
    while ((chunk = PyIter_Next(iter))) {
        /* PEP 3333: a block must reach the client before the app is asked for the next. */
        int rc = check_chunk(req, chunk);
        if (rc == 0 && PyBytes_GET_SIZE(chunk) > 0)
            rc = si_response_write(req, PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk), 1);
        Py_DECREF(chunk);
        if (rc < 0) {
            Py_DECREF(iter);
            return -1;
        }
        if (req->overflowed)
            break;   /* everything past Content-Length would be dropped anyway */
    }
    Py_DECREF(iter);
    return PyErr_Occurred() ? -1 : 0;
}

/* PEP 3333: "If the iterable returned by the application has a close() method, the server must
 * call that method upon completion of the current request, whether the request was completed
 * normally, or terminated early due to an application error". */
int si_response_call_close(si_request *req, PyObject *result)
{
    PyObject *close;
    if (PyObject_GetOptionalAttr(result, req->st->str_close, &close) < 0)
        return -1;
    if (!close)
        return 0;
    PyObject *rv = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    Py_XDECREF(rv);
    return rv ? 0 : -1;
}

void si_response_finish(si_request *req)
{
    if (si_request_io_begin(req) < 0) {
        PyErr_Clear();
        return;
    }
    if (req->client_gone) {
        req->response_ended = 1;
    }
    else if (req->content_length >= 0 && req->body_sent < req->content_length
             && !req->r->header_only) {
        /* Fewer bytes than announced: the client would wait for the rest until it times out. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, "SI0403: pool %s: %s (%s) sent %"
                      APR_OFF_T_FMT " of the %" APR_OFF_T_FMT " bytes its Content-Length "
                      "announced; the connection is closed", req->mount->pool_spec->name,
                      req->r->uri, req->mount->script, req->body_sent, req->content_length);
        abort_response(req);
    }
    else {
        pass(req, apr_bucket_eos_create(req->r->connection->bucket_alloc), 0);
        req->response_ended = 1;
    }
    si_request_io_end(req);
}

void si_response_abort(si_request *req)
{
    if (si_request_io_begin(req) < 0) {
        PyErr_Clear();
        req->r->connection->keepalive = AP_CONN_CLOSE;
        return;
    }
    abort_response(req);
    si_request_io_end(req);
}
