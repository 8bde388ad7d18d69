/* si_request.h — one WSGI request: its C context and the objects that expose it to Python.
 *
 * The context lives on the handler's stack.  The Python objects made for the request
 * (wsgi.input, wsgi.errors, start_response) point at it only while the request runs; afterwards
 * they are detached, so an app that keeps one gets an exception, not a dangling pointer.
 *
 * App threads may use those objects while the request runs.  Whatever touches Apache's side of
 * the request (r, its memory pool and tables, the connection's bucket allocator, the filters)
 * does so inside the request's I/O guard (si_request_io_begin/end): one thread at a time, never
 * after the request ended, and the request does not end while a thread is inside or waiting.
 */
#ifndef SI_REQUEST_H
#define SI_REQUEST_H

#include "si_common.h"
#include "si_config.h"
#include "si_module.h"
#include "si_tstate.h"
#include "si_maint.h"
#include "si_cgi.h"

struct si_slot;
struct si_instance;

typedef struct si_request {
    request_rec *r;
    struct si_slot *slot;
    struct si_instance *instance;  /* pinned for the whole request */
    si_mount_conf *mount;          /* what the request runs: a mount, a handler, a file, hooks */
    const char *pool_name;         /* its pool's (configuration memory), and the interpreter's */
    int pool_index;                /* index there: wsgi.errors lines carry both */
    const char *script_name;       /* SCRIPT_NAME, PATH_INFO and SCRIPT_FILENAME as Apache */
    const char *path_info;         /* mapped the request */
    const char *script_filename;
    const si_cgi_list *forwarded;  /* a process pool's request: the CGI variables the child sent
                                    * (si_procserve.c); NULL: taken from r */
    si_module_state *st;
    /* response: set by start_response, sent at the first non-empty body chunk */
    PyObject *status;            /* str, validated */
    PyObject *headers;           /* list of (str, str), validated */
    int headers_sent;
    int client_gone;             /* the output filters failed: stop producing */
    apr_off_t content_length;    /* declared by the app, -1 if not */
    apr_off_t body_sent;         /* body bytes passed to Apache */
    int overflowed;              /* the app produced more than content_length */
    apr_bucket_brigade *out;
    /* request body */
    apr_bucket_brigade *in;
    int input_eos;
    int input_status;            /* HTTP status a failed body read calls for (413, 400), or 0 */
    int response_ended;          /* EOS (or the abort) went out: nothing more may be sent */
    /* the I/O guard; GIL-guarded */
    int io_users;                /* threads inside or waiting: keep this struct alive */
    int io_busy;                 /* one of them holds the guard... */
    unsigned long io_owner;      /* ...this one */
    int io_ended;                /* the request is over: the guard refuses */
    int io_request_waiting;      /* the request's own thread waits: app threads let it go first */
    unsigned long thread_ident;  /* the thread that runs the request */
    struct si_request *outer;    /* the request Apache nested this one in, on this thread */
    si_deadline deadline;        /* request-timeout: si_maint.c's, not ours */
} si_request;

/* Enters req's I/O guard, waiting (GIL released) while another thread holds it.  Called with
 * the GIL held.  -1 with RuntimeError once the request has ended, or if this thread holds it
 * already (the object of an outer request used from a nested one); -1 with RequestTimeout when
 * the request's own thread waited past request-timeout.  The request's own thread goes before
 * app threads that wait too, so an app thread writing in a loop cannot starve it. */
int si_request_io_begin(si_request *req);
void si_request_io_end(si_request *req);

/* The guard for logging on the request's own thread while an exception is pending (it stays
 * pending): 1 when entered (si_request_io_end follows), 0 when the request's I/O has ended and
 * only this thread is left to use r. */
int si_request_io_begin_keeping_error(si_request *req);

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

/* The innermost request this thread runs in the current interpreter, or NULL. */
si_request *si_request_running_here(void);

#endif
