/* si_maint.h — the child's maintenance thread: everything that happens beside requests.
 *
 * One thread per child, started after the pools are up: replaces interpreters that reached
 * max-requests, rebuilds a pool whose scripts changed (SubinterpScriptReloading), ends retired
 * instances once drained, and interrupts requests past request-timeout.  Building instances on
 * this one thread keeps interpreter creation serial, as CPython needs.
 */
#ifndef SI_MAINT_H
#define SI_MAINT_H

#include "si_common.h"
#include "si_pool.h"

struct si_request;

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
