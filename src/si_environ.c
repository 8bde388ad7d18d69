/* si_environ.c — the WSGI environ of one request (PEP 3333 "environ Variables").
 *
 * Built straight into a dict with keys interned in module state; no intermediate APR table.
 * Values are native strings holding the request's bytes as latin-1 ("bytes as str", PEP 3333
 * "Unicode Issues"), so environ['PATH_INFO'].encode('latin-1') gives back the raw path.
 */
#include "si_environ.h"
#include "si_pool.h"
#include "si_proxy.h"
#include "si_http.h"

#include "apr_lib.h"
#include "http_core.h"
#include "http_protocol.h"

#include "http_ssl.h"

static int set_item(PyObject *environ, PyObject *key, PyObject *value)
{
    if (!value)
        return -1;
    int rc = PyDict_SetItem(environ, key, value);
    Py_DECREF(value);
    return rc;
}

static int set_str(PyObject *environ, PyObject *key, const char *value)
{
    return set_item(environ, key, PyUnicode_DecodeLatin1(value, strlen(value), NULL));
}

static int set_str_if(PyObject *environ, PyObject *key, const char *value)
{
    return value ? set_str(environ, key, value) : 0;
}

/* Values most requests share come from module state instead of a new str each time. */
static int set_common(PyObject *environ, PyObject *key, const char *value, si_module_state *st)
{
    PyObject *common = NULL;
    if (strcmp(value, "GET") == 0)
        common = st->val_GET;
    else if (strcmp(value, "POST") == 0)
        common = st->val_POST;
    else if (strcmp(value, "HEAD") == 0)
        common = st->val_HEAD;
    else if (strcmp(value, "HTTP/1.1") == 0)
        common = st->val_HTTP11;
    else if (strcmp(value, "HTTP/1.0") == 0)
        common = st->val_HTTP10;
    else if (strcmp(value, "http") == 0)
        common = st->val_http;
    else if (strcmp(value, "https") == 0)
        common = st->val_https;
    else if (!*value)
        common = st->str_empty;
    return common ? PyDict_SetItem(environ, key, common) : set_str(environ, key, value);
}

static int set_port(PyObject *environ, PyObject *key, unsigned port)
{
    char digits[16];
    int len = apr_snprintf(digits, sizeof(digits), "%u", port);
    return set_item(environ, key, PyUnicode_DecodeLatin1(digits, len, NULL));
}

static int set_server_software(PyObject *environ, si_module_state *st)
{
    /* The banner is fixed once the child runs. */
    if (!st->server_software) {
        const char *banner = ap_get_server_banner();
        st->server_software = PyUnicode_DecodeLatin1(banner, strlen(banner), NULL);
        if (!st->server_software)
            return -1;
    }
    return PyDict_SetItem(environ, st->SERVER_SOFTWARE, st->server_software);
}

/* CGI/1.1 (RFC 3875 4.1.18): Header-Name becomes HTTP_HEADER_NAME.  A name with anything but
 * letters, digits and '-' is dropped (si_http_cgi_name), so "X_Forwarded_For" can never pose as
 * "X-Forwarded-For" (the same rule Apache applies for CGI). */
static int add_http_header(PyObject *environ, apr_pool_t *p, const char *name, const char *value)
{
    size_t len = strlen(name);
    char *key = apr_palloc(p, len + 6);
    size_t key_len = si_http_cgi_name((const unsigned char *)name, len, key);
    if (!key_len)
        return 0;
    PyObject *pykey = PyUnicode_DecodeLatin1(key, key_len, NULL);
    if (!pykey)
        return -1;
    int rc = set_item(environ, pykey, PyUnicode_DecodeLatin1(value, strlen(value), NULL));
    Py_DECREF(pykey);
    return rc;
}

static int add_headers(PyObject *environ, request_rec *r, si_module_state *st,
                       const si_dir_conf *dir, const si_forwarded *fwd)
{
    int pass_authorization = dir && dir->pass_authorization == 1;
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val)
            continue;
        if (strcasecmp(e[i].key, "Content-Type") == 0) {
            if (set_str(environ, st->CONTENT_TYPE, e[i].val) < 0)
                return -1;
        }
        else if (strcasecmp(e[i].key, "Content-Length") == 0) {
            if (set_str(environ, st->CONTENT_LENGTH, e[i].val) < 0)
                return -1;
        }
        else if ((strcasecmp(e[i].key, "Authorization") == 0
                  || strcasecmp(e[i].key, "Proxy-Authorization") == 0) && !pass_authorization) {
            continue;   /* credentials stay with Apache unless SubinterpPassAuthorization On */
        }
        else if (fwd->active && si_proxy_hides(fwd, dir, e[i].key)) {
            continue;   /* a forwarded header the app must not believe */
        }
        else if (add_http_header(environ, r->pool, e[i].key, e[i].val) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Variables set by SetEnv, mod_setenvif, mod_ssl's exports and the like; our own keys win. */
static int add_subprocess_env(PyObject *environ, request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val || strncmp(e[i].key, "HTTP_", 5) == 0)
            continue;
        PyObject *key = PyUnicode_DecodeLatin1(e[i].key, strlen(e[i].key), NULL);
        if (!key)
            return -1;
        int rc = PyDict_Contains(environ, key);
        if (rc == 0)
            rc = set_item(environ, key, PyUnicode_DecodeLatin1(e[i].val, strlen(e[i].val), NULL));
        Py_DECREF(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* What a trusted proxy said overrides what Apache saw (si_proxy.c). */
static int apply_forwarded(PyObject *environ, si_module_state *st, const si_forwarded *fwd,
                           int *https)
{
    const char *const *v = fwd->value;
    if (v[SI_FWD_CLIENT] && set_str(environ, st->REMOTE_ADDR, v[SI_FWD_CLIENT]) < 0)
        return -1;
    if (v[SI_FWD_SCHEME]) {
        *https = strcmp(v[SI_FWD_SCHEME], "https") == 0;
        if (set_common(environ, st->REQUEST_SCHEME, v[SI_FWD_SCHEME], st) < 0)
            return -1;
        if (*https ? PyDict_SetItem(environ, st->HTTPS, st->str_on) < 0
                   : PyDict_Pop(environ, st->HTTPS, NULL) < 0)
            return -1;
    }
    if (v[SI_FWD_HOST] && set_str(environ, st->HTTP_HOST, v[SI_FWD_HOST]) < 0)
        return -1;
    if (v[SI_FWD_PORT] && set_str(environ, st->SERVER_PORT, v[SI_FWD_PORT]) < 0)
        return -1;
    if (v[SI_FWD_SCRIPT] && set_str(environ, st->SCRIPT_NAME, v[SI_FWD_SCRIPT]) < 0)
        return -1;
    return 0;
}

PyObject *si_environ_build(si_request *req, PyObject *input, PyObject *errors)
{
    request_rec *r = req->r;
    conn_rec *c = r->connection;
    si_module_state *st = req->st;
    si_instance *inst = req->instance;
    int https = ap_ssl_conn_is_ssl(c);
    si_dir_conf *dir = ap_get_module_config(r->per_dir_config, &subinterp_module);
    si_forwarded fwd;
    si_proxy_resolve(r, dir, &fwd);

    PyObject *environ = PyDict_New();
    if (!environ)
        return NULL;
    if (set_common(environ, st->REQUEST_METHOD, r->method, st) < 0
        || set_str(environ, st->SCRIPT_NAME, req->script_name) < 0
        || set_str(environ, st->PATH_INFO, req->path_info) < 0
        || set_common(environ, st->QUERY_STRING, r->args ? r->args : "", st) < 0
        || set_str(environ, st->REQUEST_URI, r->unparsed_uri) < 0
        || set_common(environ, st->REQUEST_SCHEME, ap_http_scheme(r), st) < 0
        || set_str(environ, st->SERVER_NAME, ap_get_server_name_for_url(r)) < 0
        || set_port(environ, st->SERVER_PORT, ap_get_server_port(r)) < 0
        || set_common(environ, st->SERVER_PROTOCOL, r->protocol, st) < 0
        || set_server_software(environ, st) < 0
        || set_str(environ, st->SERVER_ADDR, c->local_ip) < 0
        || set_str(environ, st->REMOTE_ADDR, r->useragent_ip) < 0
        || set_port(environ, st->REMOTE_PORT, c->client_addr->port) < 0
        || set_str_if(environ, st->REMOTE_USER, r->user) < 0
        || set_str_if(environ, st->AUTH_TYPE, r->ap_auth_type) < 0
        || set_str(environ, st->SCRIPT_FILENAME, req->script_filename) < 0
        || set_str(environ, st->DOCUMENT_ROOT, ap_document_root(r)) < 0
        || (https && PyDict_SetItem(environ, st->HTTPS, st->str_on) < 0)
        || add_headers(environ, r, st, dir, &fwd) < 0
        || add_subprocess_env(environ, r) < 0
        || (fwd.peer_trusted && apply_forwarded(environ, st, &fwd, &https) < 0)
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
        || set_item(environ, st->si_interpreter, PyLong_FromLong(inst->slot->index)) < 0
        || set_item(environ, st->si_generation,
                    PyLong_FromUnsignedLongLong(inst->generation)) < 0) {
        Py_DECREF(environ);
        return NULL;
    }
    return environ;
}
