/* si_tstate.h — per-thread, per-interpreter PyThreadState cache: our replacement for PyGILState.
 *
 * PyGILState only knows the main interpreter.  Each worker thread keeps, in thread-local storage,
 * one thread state for every interpreter slot it has served, created on first use and reused
 * afterwards.  Each slot also registers the states made for it, so teardown can delete them, and
 * a generation number lets a thread notice that its cached state belongs to an interpreter that
 * has since been replaced (the state was deleted by whoever replaced it).
 */
#ifndef SI_TSTATE_H
#define SI_TSTATE_H

#include "si_common.h"

typedef struct si_tstate_registry {
    PyInterpreterState *interp;
    apr_uint64_t generation;         /* bumped whenever interp is replaced */
    unsigned cache_index;            /* this slot's index in every thread's cache */
    apr_thread_mutex_t *lock;        /* guards states */
    apr_array_header_t *states;      /* PyThreadState * made for interp, any thread */
} si_tstate_registry;

/* Sizes every thread's cache: one entry per interpreter slot of the process. */
apr_status_t si_tstate_init(apr_pool_t *pchild, unsigned slots);

apr_status_t si_tstate_registry_init(si_tstate_registry *reg, apr_pool_t *p, unsigned index);

/* Attaches this thread's state for reg's interpreter, creating it on first use.  The caller must
 * hold no thread state.  NULL (with nothing attached) if CPython could not allocate one. */
PyThreadState *si_tstate_enter(si_tstate_registry *reg);

/* Detaches the state attached by si_tstate_enter(), releasing the interpreter's GIL. */
void si_tstate_leave(void);

/* Clears and deletes every registered state of reg's interpreter.  The caller has a state of that
 * interpreter attached (PyThreadState_Clear needs it, gh-112723) that is not in the registry, and
 * no other thread uses the interpreter any more. */
void si_tstate_delete_all(si_tstate_registry *reg);

#endif
