/* si_tstate.c — the thread-local thread-state cache (see si_tstate.h). */
#include "si_tstate.h"

#include <pthread.h>

typedef struct {
    apr_uint64_t generation;
    PyThreadState *state;
} si_cache_entry;

static unsigned cache_slots;              /* set once in child_init, before any worker runs */
static pthread_key_t cache_key;           /* frees a thread's cache array when the thread exits */
static _Thread_local si_cache_entry *thread_cache;

static void free_thread_cache(void *cache)
{
    /* The states themselves belong to their interpreters: teardown deletes them. */
    free(cache);
}

apr_status_t si_tstate_init(apr_pool_t *pchild, unsigned slots)
{
    cache_slots = slots;
    return pthread_key_create(&cache_key, free_thread_cache);
}

apr_status_t si_tstate_registry_init(si_tstate_registry *reg, apr_pool_t *p, unsigned index)
{
    reg->cache_index = index;
    reg->states = apr_array_make(p, 16, sizeof(PyThreadState *));
    return apr_thread_mutex_create(&reg->lock, APR_THREAD_MUTEX_DEFAULT, p);
}

static si_cache_entry *cache_entry(si_tstate_registry *reg)
{
    if (!thread_cache) {
        thread_cache = calloc(cache_slots, sizeof(si_cache_entry));
        if (!thread_cache)
            return NULL;
        pthread_setspecific(cache_key, thread_cache);
    }
    return &thread_cache[reg->cache_index];
}

PyThreadState *si_tstate_enter(si_tstate_registry *reg)
{
    si_cache_entry *entry = cache_entry(reg);
    if (!entry)
        return NULL;
    if (!entry->state || entry->generation != reg->generation) {
        /* No state yet, or the one we had died with a replaced interpreter.  PyThreadState_New
         * needs no attached state and binds the new one to this OS thread. */
        PyThreadState *state = PyThreadState_New(reg->interp);
        if (!state)
            return NULL;
        apr_thread_mutex_lock(reg->lock);
        APR_ARRAY_PUSH(reg->states, PyThreadState *) = state;
        apr_thread_mutex_unlock(reg->lock);
        entry->state = state;
        entry->generation = reg->generation;
    }
    /* Restoring makes it the thread's "gilstate" state too, so a C extension that calls
     * PyGILState_Ensure from inside this request (sqlite3 callbacks do) reuses it. */
    PyEval_RestoreThread(entry->state);
    return entry->state;
}

void si_tstate_leave(void)
{
    PyEval_SaveThread();
}

void si_tstate_delete_all(si_tstate_registry *reg)
{
    apr_thread_mutex_lock(reg->lock);
    for (int i = 0; i < reg->states->nelts; i++) {
        PyThreadState *state = APR_ARRAY_IDX(reg->states, i, PyThreadState *);
        PyThreadState_Clear(state);
        PyThreadState_Delete(state);
    }
    apr_array_clear(reg->states);
    reg->generation++;
    apr_thread_mutex_unlock(reg->lock);
}
