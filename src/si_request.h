/* si_request.h — an Apache child's dispatch of a request to its pool: acquire an interpreter,
 * attach, run the app through the WSGI objects (si_exchange.h), release.  Also the entry points
 * for a process pool's process (si_procserve.c) and for authentication and access hooks. */
#ifndef SI_REQUEST_H
#define SI_REQUEST_H

#include "si_exchange.h"

/* Entry point for the handlers: acquire an interpreter, run the app, release it.  A mount takes
 * SCRIPT_NAME from its URL; a handler script or a file takes it from Apache's mapping. */
int si_request_handle(request_rec *r, si_mount_conf *mount);

/* The same for a request an Apache child forwarded to a process pool (si_procserve.c): r is the
 * process's stand-in for the child's, and vars the CGI variables the child worked out. */
int si_request_handle_forwarded(request_rec *r, si_mount_conf *mount, const si_cgi_list *vars);

/* SetHandler / AddHandler subinterp-script: r->filename is the WSGI script, run in the
 * directory's SubinterpHandlerPool (Options ExecCGI required, as for CGI and mod_wsgi). */
int si_request_handle_file(request_rec *r);

/* Runs fn on an interpreter of script's pool with an environ for r that has no wsgi.input
 * (authentication, authorization and access hooks).  fn gets the named function of the
 * script's module and returns a hook status (>= 0), or -1 when the function failed (logged). */
typedef int (*si_hook_fn)(si_request *req, PyObject *function, PyObject *environ, void *baton);
typedef struct {
    int ran;           /* fn answered: result is its status */
    int result;
    int http_status;   /* otherwise (logged): 503 when the pool's queue timed out, else 500 */
} si_hook_outcome;
si_hook_outcome si_request_run_hook(request_rec *r, si_mount_conf *script, const char *function,
                                    si_hook_fn fn, void *baton);

#endif
