/* si_module.h — the per-interpreter built-in module `_subinterp` and its state.
 *
 * Multi-phase init with Py_MOD_PER_INTERPRETER_GIL_SUPPORTED: every interpreter gets its own
 * module object, its own heap types (wsgi.input, wsgi.errors, start_response,
 * wsgi.file_wrapper) and its own interned environ keys.  Nothing Python-level lives in a C static.
 */
#ifndef SI_MODULE_H
#define SI_MODULE_H

#include "si_common.h"
#include "si_cgi.h"

/* Environ keys (the CGI ones of si_cgi.h first), and the values most requests share, interned
 * once per interpreter: X(field, text) */
#define SI_ENVIRON_KEYS(X)                                  \
    SI_CGI_KEYS(X)                                          \
    X(wsgi_version, "wsgi.version")                         \
    X(wsgi_url_scheme, "wsgi.url_scheme")                   \
    X(wsgi_input, "wsgi.input")                             \
    X(wsgi_errors, "wsgi.errors")                           \
    X(wsgi_multithread, "wsgi.multithread")                 \
    X(wsgi_multiprocess, "wsgi.multiprocess")               \
    X(wsgi_run_once, "wsgi.run_once")                       \
    X(wsgi_input_terminated, "wsgi.input_terminated")       \
    X(wsgi_file_wrapper, "wsgi.file_wrapper")               \
    X(si_version, "mod_subinterp.version")                  \
    X(si_pool, "mod_subinterp.pool")                        \
    X(si_interpreter, "mod_subinterp.interpreter")          \
    X(si_generation, "mod_subinterp.generation")            \
    X(str_close, "close")                                   \
    X(str_write, "write")                                   \
    X(str_on, "on")                                         \
    X(str_empty, "")                                        \
    X(val_GET, "GET")                                       \
    X(val_POST, "POST")                                     \
    X(val_HEAD, "HEAD")                                     \
    X(val_HTTP11, "HTTP/1.1")                               \
    X(val_HTTP10, "HTTP/1.0")                               \
    X(val_http, "http")                                     \
    X(val_https, "https")

typedef struct {
    PyTypeObject *input_type;
    PyTypeObject *errors_type;
    PyTypeObject *start_response_type;
    PyTypeObject *file_wrapper_type;
    PyTypeObject *request_timeout_type; /* raised into a request past request-timeout */
    PyObject *wsgi_version_value;       /* (1, 0) */
    PyObject *version_value;            /* SI_VERSION as str */
    PyObject *server_software;          /* Apache's banner, made on first use */
    server_rec *log_server;             /* the server_rec of the pool this interpreter serves */
    const char *log_pool;               /* its pool's name (configuration memory) ... */
    int log_index;                      /* ... and its index there: app log lines carry both */
    /* mod_subinterp.shared (si_shared.c) */
    PyTypeObject *cache_type;
    PyTypeObject *queue_type;
    PyObject *shared;                   /* the mod_subinterp.shared namespace */
    PyObject *poll;                     /* lambda: None, run between queue wait slices */
    struct si_store *store;             /* the pool's (C data it does not own); NULL: no pool */
    int ending;                         /* set by si_instance_end (GIL held) before it waits
                                         * for app threads: their shared-queue waits raise
                                         * SystemExit, so a consumer thread ends */
#define SI_DECLARE_KEY(field, text) PyObject *field;
    SI_ENVIRON_KEYS(SI_DECLARE_KEY)
#undef SI_DECLARE_KEY
} si_module_state;

/* For PyImport_AppendInittab before Py_Initialize. */
PyObject *si_module_init(void);

/* Imports _subinterp in the current interpreter; returns a new reference and its state. */
PyObject *si_module_import(si_module_state **state);

#endif
