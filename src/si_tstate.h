/* si_tstate.h — per-thread, per-interpreter PyThreadState cache: our replacement for PyGILState.
 *
 * PyGILState only knows the main interpreter.  Each worker thread keeps, in thread-local storage,
 * one thread state for every interpreter slot it has served, created on first use and reused.
 * Each interpreter instance registers the states made for it (and which thread owns each), so
 * that recycling and teardown can delete them.
 *
 * The hazard this module exists to avoid: CPython binds a thread's "gilstate" to the state it
 * last activated, and rebinding later writes into that state.  Deleting, from another thread, a
 * state that is still some thread's binding leaves a dangling pointer behind (use after free on
 * that thread's next activation).  So every thread publishes the state it last activated
 * (`bound`), and a state is only reaped from another thread once it is not its owner's binding
 * (or its owner has exited).
 */
#ifndef SI_TSTATE_H
#define SI_TSTATE_H

#include "si_common.h"

#include <pthread.h>

typedef struct si_thread si_thread;

/* Its memory is malloc'd, not from an APR pool: worker threads register states concurrently,
 * and an APR pool must never be allocated from by two threads at once. */
typedef struct si_tstate_registry {
    PyInterpreterState *interp;
    pthread_mutex_t lock;            /* guards the states array */
    struct si_registered_state *states;
    int count, capacity;
} si_tstate_registry;

/* Sizes every thread's cache (one entry per slot of the process); once per child. */
apr_status_t si_tstate_init(apr_pool_t *pchild, unsigned slots);

apr_status_t si_tstate_registry_init(si_tstate_registry *reg, PyInterpreterState *interp);

/* Attaches this thread's state for reg's interpreter, cached under the slot's index, creating
 * it on first use (or when the slot's instance changed).  The caller holds no thread state.
 * NULL, with nothing attached, if CPython could not allocate one. */
PyThreadState *si_tstate_enter(unsigned cache_index, si_tstate_registry *reg);

/* Detaches the state attached by si_tstate_enter(), releasing the interpreter's GIL. */
void si_tstate_leave(void);

/* Py_BEGIN/END_ALLOW_THREADS for calls into Apache: a nested request may run on this thread
 * in between (ErrorDocument, internal redirect, SSI), and resume republishes our binding. */
PyThreadState *si_tstate_suspend(void);
void si_tstate_resume(PyThreadState *state);

/* Sleeps with the interpreter's GIL released (suspend, sleep, resume): for the few waits that
 * poll (an I/O guard, app threads ending). */
void si_tstate_nap(apr_interval_time_t duration);

/* The registry of worker threads' main-interpreter states (gil=main pools share one state per
 * thread); reaped at child exit only. */
si_tstate_registry *si_tstate_main_registry(void);

/* Attaches state on a housekeeping thread (the child's main thread, the maintenance thread) and
 * publishes it as that thread's binding; use it instead of PyEval_RestoreThread there. */
void si_tstate_restore(PyThreadState *state);

/* Records that CPython itself attached state on this thread (Py_NewInterpreterFromConfig). */
void si_tstate_note_attached(PyThreadState *state);

/* Registers a state made by CPython (an interpreter's first state) as owned by this thread;
 * -1 when out of memory. */
int si_tstate_register(si_tstate_registry *reg, PyThreadState *state);

/* Makes and attaches a state of reg's interpreter for the calling (housekeeping) thread, one that
 * is not cached or registered.  The caller holds no thread state. */
PyThreadState *si_tstate_attach_fresh(si_tstate_registry *reg);

/* Clears and deletes reg's registered states, with a state of that interpreter attached.
 * `all`: every one (no other thread can use or be bound to them: child exit).  Otherwise only
 * those that are not their owner thread's gilstate binding.  Returns how many remain.
 * Afterwards the calling thread's gilstate binding may be gone (see si_tstate.c): call
 * si_tstate_rebind() before anything else runs Python on it.  Only for a thread that binds
 * nothing else afterwards (a throwaway thread that ends interpreters). */
int si_tstate_reap(si_tstate_registry *reg, int all);

/* Deletes the attached state and attaches (and binds) a new one of the same interpreter, so
 * that PyGILState_Ensure from a finalizer on this thread lands in it; NULL (nothing attached)
 * if none could be made.  For a thread with no si_tstate record (si_instance_end's). */
PyThreadState *si_tstate_rebind(void);

/* The interpreter of the state this thread published last (NULL: none): the one it runs for,
 * even while CPython has swapped in a state of another (an extension's init). */
PyInterpreterState *si_tstate_published_interp(void);

/* Frees the thread records; after every thread that used us has exited. */
void si_tstate_free_threads(void);

#endif
