/* si_exchange.h — one request's exchange with its app: the C context the WSGI objects share
 * (wsgi.input, wsgi.errors, start_response and the response, the environ), and its I/O guard.
 *
 * Below the WSGI objects and above Apache's request record: si_request.c (an Apache child's
 * dispatch) and si_procserve.c (a process pool's) fill one in and call the app; the objects
 * only read and write it, and none of them calls back up.
 *
 * The context lives on the handler's stack.  The Python objects made for the request point at
 * it only while the request runs; afterwards they are detached, so an app that keeps one gets
 * an exception, not a dangling pointer.
 *
 * App threads may use those objects while the request runs.  Whatever touches Apache's side of
 * the request (r, its memory pool and tables, the connection's bucket allocator, the filters)
 * does so inside the request's I/O guard (si_request_io_begin/end): one thread at a time, never
 * after the request ended, and the request does not end while a thread is inside or waiting.
 */
#ifndef SI_EXCHANGE_H
#define SI_EXCHANGE_H

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

/* The innermost request this thread runs in the current interpreter, or NULL; entering and
 * leaving one (the dispatchers, around the app call). */
si_request *si_request_running_here(void);
si_request *si_exchange_innermost(void);   /* whatever its interpreter */
void si_exchange_enter(si_request *req);
void si_exchange_leave(si_request *req);

/* The app is done with the request: app threads' I/O in progress finishes (bounded by Apache's
 * Timeout for each read or write), later attempts raise.  Afterwards only this thread uses r. */
void si_exchange_end_io(si_request *req);

/* request-timeout as the request sees it (GIL held).  Whether the exception now raised in req
 * is the RequestTimeout the deadline thread sent it; whether that thread has sent it; and
 * raising it now, taking back the one still pending, for a request thread that waits in C and
 * runs no bytecode to receive it. */
int si_exchange_timed_out(si_request *req);
int si_exchange_overdue(si_request *req);
void si_exchange_raise_timeout(si_request *req);

#endif
