/* si_environ.c — the WSGI environ of one request (PEP 3333 "environ Variables").
 *
 * The CGI variables come from si_cgi.c: straight from Apache's request record in a child, or
 * replayed from the wire in a process pool (si_procserve.c), through the same sink, so both give
 * the same dict.  Built straight into the dict with keys interned in module state; no
 * intermediate APR table.  Values are native strings holding the request's bytes as latin-1
 * ("bytes as str", PEP 3333 "Unicode Issues"), so environ['PATH_INFO'].encode('latin-1') gives
 * back the raw path.
 */
#include "si_environ.h"
#include "si_pool.h"

typedef struct {
    si_cgi_sink base;
    PyObject *environ;
    si_module_state *st;
} dict_sink;

static const size_t key_offset[SI_CGI_KEY_COUNT] = {
    0,
#define SI_KEY_OFFSET(field, text) offsetof(si_module_state, field),
    SI_CGI_KEYS(SI_KEY_OFFSET)
#undef SI_KEY_OFFSET
};

/* Values most requests share come from module state instead of a new str each time. */
static PyObject *common_value(si_module_state *st, si_cgi_key key, const char *v, apr_size_t n)
{
    if (n == 0)
        return st->str_empty;
    switch (key) {
    case SI_CGI_REQUEST_METHOD:
        return n == 3 && memcmp(v, "GET", 3) == 0 ? st->val_GET
               : n == 4 && memcmp(v, "POST", 4) == 0 ? st->val_POST
               : n == 4 && memcmp(v, "HEAD", 4) == 0 ? st->val_HEAD : NULL;
    case SI_CGI_SERVER_PROTOCOL:
        return n == 8 && memcmp(v, "HTTP/1.1", 8) == 0 ? st->val_HTTP11
               : n == 8 && memcmp(v, "HTTP/1.0", 8) == 0 ? st->val_HTTP10 : NULL;
    case SI_CGI_REQUEST_SCHEME:
        return n == 4 && memcmp(v, "http", 4) == 0 ? st->val_http
               : n == 5 && memcmp(v, "https", 5) == 0 ? st->val_https : NULL;
    case SI_CGI_HTTPS:
        return n == 2 && memcmp(v, "on", 2) == 0 ? st->str_on : NULL;
    case SI_CGI_SERVER_SOFTWARE:
        return st->server_software;   /* the banner is fixed once the child runs */
    default:
        return NULL;
    }
}

static int dict_put(si_cgi_sink *sink, si_cgi_op op, si_cgi_key key, const char *name,
                    apr_size_t name_len, const char *value, apr_size_t value_len)
{
    dict_sink *ds = (dict_sink *)sink;
    si_module_state *st = ds->st;
    PyObject *k = key != SI_CGI_OTHER ? *(PyObject **)((char *)st + key_offset[key])
                                      : PyUnicode_DecodeLatin1(name, name_len, NULL);
    if (!k)
        return -1;
    int rc;
    if (op == SI_CGI_REMOVE) {
        rc = PyDict_Pop(ds->environ, k, NULL) < 0 ? -1 : 0;
    }
    else if (op == SI_CGI_SET_IF_ABSENT && (rc = PyDict_Contains(ds->environ, k)) != 0) {
        rc = rc < 0 ? -1 : 0;
    }
    else {
        PyObject *v = common_value(st, key, value, value_len);
        if (v) {
            rc = PyDict_SetItem(ds->environ, k, v);
        }
        else if (!(v = PyUnicode_DecodeLatin1(value, value_len, NULL))) {
            rc = -1;
        }
        else {
            rc = PyDict_SetItem(ds->environ, k, v);
            if (key == SI_CGI_SERVER_SOFTWARE && !st->server_software)
                st->server_software = Py_NewRef(v);
            Py_DECREF(v);
        }
    }
    if (key == SI_CGI_OTHER)
        Py_DECREF(k);
    return rc;
}

static int set_new(PyObject *environ, PyObject *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItem(environ, key, value);
    Py_DECREF(value);
    return rc;
}

PyObject *si_environ_build(si_request *req, PyObject *input, PyObject *errors)
{
    si_module_state *st = req->st;
    si_instance *inst = req->instance;
    PyObject *environ = PyDict_New();
    if (!environ)
        return NULL;
    dict_sink sink = {.base.put = dict_put, .environ = environ, .st = st};
    int https = 0, rc = 0;
    if (req->forwarded) {
        const si_cgi_list *list = req->forwarded;
        for (int i = 0; i < list->count && rc == 0; i++) {
            const si_cgi_var *v = &list->vars[i];
            rc = dict_put(&sink.base, v->op, v->key, v->name, v->name_len, v->value,
                          v->value_len);
        }
        https = list->https;
    }
    else {
        si_cgi_mapping map = {req->script_name, req->path_info, req->script_filename};
        rc = si_cgi_vars(req->r, &map, &sink.base, &https);
    }
    if (rc < 0
        || PyDict_SetItem(environ, st->wsgi_version, st->wsgi_version_value) < 0
        || PyDict_SetItem(environ, st->wsgi_url_scheme, https ? st->val_https : st->val_http) < 0
        || (input && PyDict_SetItem(environ, st->wsgi_input, input) < 0)
        || PyDict_SetItem(environ, st->wsgi_errors, errors) < 0
        || PyDict_SetItem(environ, st->wsgi_multithread, Py_True) < 0
        || PyDict_SetItem(environ, st->wsgi_multiprocess, Py_True) < 0
        || PyDict_SetItem(environ, st->wsgi_run_once, Py_False) < 0
        || PyDict_SetItem(environ, st->wsgi_input_terminated, Py_True) < 0
        || PyDict_SetItem(environ, st->wsgi_file_wrapper, (PyObject *)st->file_wrapper_type) < 0
        || PyDict_SetItem(environ, st->si_version, st->version_value) < 0
        || PyDict_SetItem(environ, st->si_pool, inst->pool_name) < 0
        || set_new(environ, st->si_interpreter, PyLong_FromLong(inst->slot->index)) < 0
        || set_new(environ, st->si_generation,
                   PyLong_FromUnsignedLongLong(inst->generation)) < 0) {
        Py_DECREF(environ);
        return NULL;
    }
    return environ;
}
