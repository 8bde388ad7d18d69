/* si_maint.h — the child's maintenance threads: everything that happens beside requests.
 *
 * Started after the pools are up.  The housekeeping thread replaces interpreters that reached
 * max-requests, rebuilds a pool whose scripts changed (SubinterpScriptReloading) and ends retired
 * instances once drained; building instances on this one thread keeps interpreter creation
 * serial, as CPython needs.  The deadline thread only watches request-timeout: it never takes a
 * GIL, and hands each overdue request to a short-lived delivery thread that waits for that
 * interpreter's GIL alone, so one C call holding a GIL delays no other pool's timeouts.
 */
#ifndef SI_MAINT_H
#define SI_MAINT_H

#include "si_common.h"

struct si_request;

/* A running request's place in the deadline thread's list.  It lives in the request (no
 * allocation per request) but only si_maint.c reads or writes it. */
typedef struct si_deadline {
    apr_time_t at;
    apr_uint64_t serial;            /* names the request to a delivery thread */
    int tracked;
    int pending;                    /* handed to a delivery thread; maint's lock */
    int signalled;                  /* RequestTimeout was raised in it; the request's GIL */
    struct si_request *req;
    struct si_deadline *next, *prev;
} si_deadline;

/* Starts the thread; pools is an array of si_pool *.  Its pre-cleanup on pchild stops and joins
 * it before the runtime is torn down. */
apr_status_t si_maint_start(apr_pool_t *pchild, server_rec *s, apr_array_header_t *pools,
                            apr_array_header_t *global_path);

/* Asks the thread to look now (an interpreter reached max-requests). */
void si_maint_wake(void);

/* Requests with a deadline register while they run (GIL held) so the thread can interrupt them. */
void si_maint_track(struct si_request *req);
void si_maint_untrack(struct si_request *req);

#endif
