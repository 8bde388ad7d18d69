/* si_pool.h — a pool of identical interpreters and the least-busy dispatch across them.
 *
 * A pool's interpreters are created in child_init, each with every app mounted on the pool
 * imported.  A request takes the ready interpreter with the fewest active requests (ties: round
 * robin); with max-active set, a request waits up to queue-timeout for a free one.
 */
#ifndef SI_POOL_H
#define SI_POOL_H

#include "si_common.h"
#include "si_config.h"
#include "si_module.h"
#include "si_tstate.h"

struct si_pool;

typedef struct si_interp {
    struct si_pool *pool;
    int index;                      /* in the pool */
    int ready;                      /* created and set up; dispatch skips it otherwise */
    si_tstate_registry registry;    /* the interpreter, its generation, its thread states */
    PyThreadState *home;            /* made with the interpreter on the child's main thread */
    int active;                     /* requests running now; guarded by pool->lock */
    apr_uint64_t served;
    /* Python objects owned by this interpreter (never touched from another one) */
    PyObject *module;               /* _subinterp */
    si_module_state *st;
    PyObject *pool_name;            /* str, for environ */
    PyObject **apps;                /* per mount of the pool; NULL where loading failed */
} si_interp;

typedef struct si_pool {
    si_pool_conf *conf;
    const char *name;
    int count;
    si_interp *interps;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *freed;       /* signalled when a request ends and someone may wait */
    int waiting;
    unsigned next;                  /* round-robin cursor for ties */
} si_pool;

/* Allocates the pool and its slots; slot registries take cache indexes from *next_cache_index. */
apr_status_t si_pool_make(apr_pool_t *p, si_pool_conf *conf, unsigned *next_cache_index,
                          si_pool **out);

/* Creates (or, for gil=main, adopts) slot's interpreter and imports the pool's apps into it.
 * Called on the child's main thread with main_state attached; returns with main_state attached. */
void si_pool_start_interp(si_interp *slot, PyThreadState *main_state, server_rec *s,
                          apr_array_header_t *global_path);

/* Ends slot's interpreter: deletes every thread state made for it, releases its objects and,
 * for own/shared pools, Py_EndInterpreter.  Called with nothing attached for own/shared slots
 * and with the main state attached for gil=main. */
void si_pool_stop_interp(si_interp *slot);

apr_status_t si_pool_acquire(si_pool *pool, request_rec *r, si_interp **out);
void si_pool_release(si_pool *pool, si_interp *slot);

#endif
