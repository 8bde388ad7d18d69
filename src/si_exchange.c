/* si_exchange.c — one request's context and its I/O guard (see si_exchange.h). */
#include "si_exchange.h"
#include "si_pool.h"

#include "pythread.h"

/* How often a thread waiting for the I/O guard looks again.  Waits are rare (an app thread using
 * a request object while another thread does I/O) and short. */
#define SI_IO_POLL apr_time_from_msec(1)

/* The request this thread is running (innermost first, through ->outer). */
static _Thread_local si_request *running_here;

si_request *si_request_running_here(void)
{
    si_request *req = running_here;
    if (!req || req->instance->registry.interp != PyInterpreterState_Get())
        return NULL;
    return req;
}

int si_request_io_begin(si_request *req)
{
    unsigned long me = PyThread_get_thread_ident();
    if (req->io_busy && req->io_owner == me) {
        PyErr_SetString(PyExc_RuntimeError, "this request's I/O is already in progress on this "
                        "thread (an object of an outer request used from a nested one)");
        return -1;
    }
    int own = me == req->thread_ident;
    req->io_users++;
    req->io_request_waiting += own;
    while ((req->io_busy || (!own && req->io_request_waiting)) && !req->io_ended
           && !(own && si_exchange_overdue(req)))
        si_tstate_nap(SI_IO_POLL);
    req->io_request_waiting -= own;
    if (req->io_ended) {
        req->io_users--;
        PyErr_SetString(PyExc_RuntimeError, "the request this object belongs to has ended");
        return -1;
    }
    if (req->io_busy) {
        /* request-timeout fired while an app thread held the guard: the exception the deadline
         * thread sent is raised here, since this thread runs no bytecode while it waits. */
        req->io_users--;
        si_exchange_raise_timeout(req);
        return -1;
    }
    req->io_busy = 1;
    req->io_owner = me;
    return 0;
}

int si_request_io_begin_keeping_error(si_request *req)
{
    PyObject *exc = PyErr_GetRaisedException();
    int guarded = !req->io_ended && si_request_io_begin(req) == 0;
    if (!guarded)
        PyErr_Clear();   /* ended already: only this thread is left to use r */
    PyErr_SetRaisedException(exc);
    return guarded;
}

void si_request_io_end(si_request *req)
{
    req->io_busy = 0;
    req->io_owner = 0;
    req->io_users--;
}

/* The app is done with the request: app threads' I/O in progress finishes (bounded by Apache's
 * Timeout for each read or write), later attempts raise.  Afterwards only this thread uses r. */
void si_exchange_end_io(si_request *req)
{
    req->io_ended = 1;
    while (req->io_users > 0)
        si_tstate_nap(SI_IO_POLL);
}

si_request *si_exchange_innermost(void)
{
    return running_here;
}

void si_exchange_enter(si_request *req)
{
    req->outer = running_here;
    running_here = req;
}

void si_exchange_leave(si_request *req)
{
    running_here = req->outer;
}

int si_exchange_timed_out(si_request *req)
{
    return req->deadline.signalled && req->st
           && PyErr_ExceptionMatches((PyObject *)req->st->request_timeout_type);
}

int si_exchange_overdue(si_request *req)
{
    return req->deadline.signalled;
}

void si_exchange_raise_timeout(si_request *req)
{
    PyThreadState_SetAsyncExc(req->thread_ident, NULL);
    PyErr_SetString((PyObject *)req->st->request_timeout_type, "request-timeout reached "
                    "while waiting for an application thread's I/O on this request");
}
