/* si_tstate.c — the thread-local thread-state cache (see si_tstate.h for the why). */
#include "si_tstate.h"

#include <pthread.h>
#include <stdatomic.h>

struct si_thread {
    _Atomic(PyThreadState *) bound;  /* the state this thread activated last */
    atomic_int exited;
    si_thread *next;                 /* in all_threads */
    struct si_cache_entry *cache;
    PyThreadState *main_state;       /* the one state of the main interpreter (gil=main pools) */
};

typedef struct si_cache_entry {
    si_tstate_registry *reg;         /* instance the state belongs to */
    PyThreadState *state;
} si_cache_entry;

typedef struct si_registered_state {
    PyThreadState *state;
    si_thread *owner;
} si_registered_state;

static unsigned cache_slots;              /* set once in child_init, before any worker runs */
static pthread_key_t thread_key;          /* marks a thread's record exited when it ends */
static _Thread_local si_thread *this_thread;
static pthread_mutex_t all_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static si_thread *all_threads;
/* Worker threads' states of the main interpreter, shared by every gil=main slot: one state per
 * thread in that interpreter, so PyThreadState_SetAsyncExc (which takes a thread id and stops at
 * the first state with it) reaches the state that runs the request. */
static si_tstate_registry main_registry;
static pthread_once_t main_registry_once = PTHREAD_ONCE_INIT;

static void thread_exiting(void *record)
{
    /* Its binding dies with the thread, so all its states may now be reaped by others. */
    si_thread *t = record;
    atomic_store(&t->exited, 1);
}

apr_status_t si_tstate_init(apr_pool_t *pchild, unsigned slots)
{
    cache_slots = slots;
    return pthread_key_create(&thread_key, thread_exiting);
}

apr_status_t si_tstate_registry_init(si_tstate_registry *reg, PyInterpreterState *interp)
{
    reg->interp = interp;
    reg->states = NULL;
    reg->count = reg->capacity = 0;
    return pthread_mutex_init(&reg->lock, NULL) == 0 ? APR_SUCCESS : APR_ENOMEM;
}

static si_thread *current_thread(void)
{
    if (this_thread)
        return this_thread;
    si_thread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cache = calloc(cache_slots ? cache_slots : 1, sizeof(si_cache_entry));
    if (!t->cache) {
        free(t);
        return NULL;
    }
    si_plock(&all_threads_lock);
    t->next = all_threads;
    all_threads = t;
    si_punlock(&all_threads_lock);
    pthread_setspecific(thread_key, t);
    return this_thread = t;
}

/* 0, or -1 when out of memory (the state is then not registered). */
static int register_state(si_tstate_registry *reg, PyThreadState *state, si_thread *owner)
{
    int rc = 0;
    si_plock(&reg->lock);
    if (reg->count == reg->capacity) {
        int capacity = reg->capacity ? reg->capacity * 2 : 16;
        si_registered_state *grown = realloc(reg->states, capacity * sizeof(*grown));
        if (grown) {
            reg->states = grown;
            reg->capacity = capacity;
        }
    }
    if (reg->count < reg->capacity)
        reg->states[reg->count++] = (si_registered_state){.state = state, .owner = owner};
    else
        rc = -1;
    si_punlock(&reg->lock);
    return rc;
}

/* Activates state and publishes it as this thread's binding.  Published only after the
 * activation: during it CPython still touches the previous binding, which must stay alive. */
static void activate(si_thread *t, PyThreadState *state)
{
    PyEval_RestoreThread(state);
    atomic_store(&t->bound, state);
}

static void main_registry_init(void)
{
    si_tstate_registry_init(&main_registry, PyInterpreterState_Main());
}

si_tstate_registry *si_tstate_main_registry(void)
{
    pthread_once(&main_registry_once, main_registry_init);
    return &main_registry;
}

/* gil=main: the thread's single state of the main interpreter, whatever the slot. */
static PyThreadState *enter_main(si_thread *t)
{
    if (!t->main_state) {
        si_tstate_registry *reg = si_tstate_main_registry();
        PyThreadState *state = PyThreadState_New(reg->interp);
        if (!state)
            return NULL;
        if (register_state(reg, state, t) < 0) {
            PyThreadState_Delete(state);
            return NULL;
        }
        t->main_state = state;
    }
    activate(t, t->main_state);
    return t->main_state;
}

PyThreadState *si_tstate_enter(unsigned cache_index, si_tstate_registry *reg)
{
    si_thread *t = current_thread();
    if (!t)
        return NULL;
    if (reg->interp == PyInterpreterState_Main())
        return enter_main(t);
    si_cache_entry *entry = &t->cache[cache_index];
    if (entry->reg != reg || !entry->state) {
        /* First visit, or the slot has a new interpreter: the old state stays registered with
         * its retired instance, which reaps it once this thread has activated another one. */
        PyThreadState *state = PyThreadState_New(reg->interp);
        if (!state)
            return NULL;
        if (register_state(reg, state, t) < 0) {
            PyThreadState_Delete(state);   /* never activated, so never anyone's binding */
            return NULL;
        }
        entry->reg = reg;
        entry->state = state;
    }
    /* Restoring also makes it the thread's gilstate state, so a C extension that calls
     * PyGILState_Ensure from inside this request (sqlite3 callbacks do) reuses it. */
    activate(t, entry->state);
    return entry->state;
}

void si_tstate_leave(void)
{
    PyEval_SaveThread();
}

PyThreadState *si_tstate_suspend(void)
{
    return PyEval_SaveThread();
}

void si_tstate_resume(PyThreadState *state)
{
    /* Apache may have run a nested request on this thread meanwhile (an ErrorDocument, an
     * internal redirect), which activated and published another state; PyEval_RestoreThread
     * rebinds ours, so the record must follow or a reaper would free a bound state. */
    if (this_thread)
        activate(this_thread, state);
    else
        PyEval_RestoreThread(state);   /* an app's thread: Apache never nests requests there */
}

void si_tstate_nap(apr_interval_time_t duration)
{
    PyThreadState *state = si_tstate_suspend();
    apr_sleep(duration);
    si_tstate_resume(state);
}

void si_tstate_restore(PyThreadState *state)
{
    si_thread *t = current_thread();
    if (t)
        activate(t, state);
    else
        PyEval_RestoreThread(state);   /* no record: nothing of ours can ever reap it */
}

void si_tstate_note_attached(PyThreadState *state)
{
    si_thread *t = current_thread();
    if (t)
        atomic_store(&t->bound, state);
}

int si_tstate_register(si_tstate_registry *reg, PyThreadState *state)
{
    return register_state(reg, state, current_thread());
}

PyThreadState *si_tstate_attach_fresh(si_tstate_registry *reg)
{
    si_thread *t = current_thread();
    PyThreadState *state = t ? PyThreadState_New(reg->interp) : NULL;
    if (state)
        activate(t, state);
    return state;
}

int si_tstate_reap(si_tstate_registry *reg, int all)
{
    si_plock(&reg->lock);
    int kept = 0, reaped = 0;
    si_registered_state *doomed = reg->count ? malloc(reg->count * sizeof(*doomed)) : NULL;
    for (int i = 0; i < reg->count; i++) {
        si_registered_state r = reg->states[i];
        if (doomed && (all || !r.owner || atomic_load(&r.owner->exited)
                       || atomic_load(&r.owner->bound) != r.state))
            doomed[reaped++] = r;
        else
            reg->states[kept++] = r;
    }
    reg->count = kept;
    /* Every state is cleared before any is deleted.  Clearing runs the app's finalizers (a
     * worker thread's threading.local: sqlite3 connections, ctypes callbacks), which may call
     * PyGILState_Ensure and must find the caller's state bound.  Deleting a state that is still
     * flagged as its (exited) owner's binding clears the *calling* thread's binding (CPython's
     * tstate_delete_common), so no finalizer may run on this thread after the first delete:
     * the caller drops its state and binds a fresh one (si_tstate_rebind). */
    for (int i = 0; i < reaped; i++)
        PyThreadState_Clear(doomed[i].state);
    for (int i = 0; i < reaped; i++)
        PyThreadState_Delete(doomed[i].state);
    free(doomed);
    if (kept == 0) {
        free(reg->states);
        reg->states = NULL;
        reg->capacity = 0;
    }
    si_punlock(&reg->lock);
    return kept;
}

PyThreadState *si_tstate_rebind(void)
{
    PyThreadState *old = PyThreadState_Get();
    PyInterpreterState *interp = PyThreadState_GetInterpreter(old);
    PyThreadState_Clear(old);
    PyThreadState_DeleteCurrent();   /* its binding flag goes, with whatever binding is left */
    PyThreadState *fresh = PyThreadState_New(interp);
    if (fresh)
        PyEval_RestoreThread(fresh);   /* nothing bound: this binds it */
    return fresh;
}

void si_tstate_free_threads(void)
{
    /* A thread still alive (a mod_http2 worker its module's cleanup gave up on joining) would
     * run thread_exiting() on a freed record when it ends: no destructor from here on. */
    pthread_key_delete(thread_key);
    si_plock(&all_threads_lock);
    while (all_threads) {
        si_thread *t = all_threads;
        all_threads = t->next;
        if (t == this_thread)
            this_thread = NULL;
        free(t->cache);
        free(t);
    }
    si_punlock(&all_threads_lock);
}

PyInterpreterState *si_tstate_published_interp(void)
{
    PyThreadState *state = this_thread ? atomic_load(&this_thread->bound) : NULL;
    return state ? PyThreadState_GetInterpreter(state) : NULL;
}
