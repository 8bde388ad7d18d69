/* si_startup.c — a child's pools load on a thread of their own (see si_startup.h). */
#include "si_startup.h"
#include "si_pool.h"
#include "si_stats.h"
#include "si_tstate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
    server_rec *server;
    apr_array_header_t *pools;      /* si_pool * */
    apr_array_header_t *global_path;
    unsigned slots;
    apr_time_t started;
    apr_thread_t *thread;
    PyThreadState *main_state;      /* the loader's own, in the main interpreter */
    _Atomic int stopping;           /* the child exits: build nothing more */
} si_loader;

typedef struct {
    si_instance **instances;
    int count;
    int next;                       /* guarded by lock */
    apr_thread_mutex_t *lock;
    server_rec *server;
} si_warmup;

static void *APR_THREAD_FUNC warm_up_thread(apr_thread_t *thread, void *data)
{
    si_warmup *w = data;
    for (;;) {
        si_lock(w->lock);
        int i = w->next++;
        si_unlock(w->lock);
        if (i >= w->count)
            break;
        si_instance_load_apps(w->instances[i], w->server);
    }
    /* Returning, not apr_thread_exit(): pthread_exit() unwinds without clearing ASan's
     * stack poisoning, and glibc hands the stack to the next thread (a false report there). */
    return NULL;
}

/* Imports the apps of deferred own-GIL instances (under preload=off, only their import
 * scripts) on up to one thread per CPU, each interpreter on its own GIL.  Called with nothing
 * attached. */
static void warm_up(apr_pool_t *p, server_rec *s, si_instance **instances, int count)
{
    si_warmup w = {.server = s, .instances = instances, .count = count};
    int cpus = si_online_cpus();
    int threads = count < cpus ? count : cpus;
    apr_thread_t **handles = apr_pcalloc(p, (apr_size_t)(threads > 0 ? threads : 1)
                                            * sizeof(*handles));
    int started = 0;
    if (threads > 1 && apr_thread_mutex_create(&w.lock, APR_THREAD_MUTEX_DEFAULT, p) == APR_SUCCESS)
        for (; started < threads; started++)
            if (apr_thread_create(&handles[started], NULL, warm_up_thread, &w, p) != APR_SUCCESS)
                break;
    apr_status_t rv;
    for (int i = 0; i < started; i++)
        si_must(apr_thread_join(&rv, handles[i]), "joining a warm-up thread");
    /* Whatever no thread took (one CPU, or threads unavailable) is done here. */
    for (int i = started ? count : 0; i < count; i++)
        si_instance_load_apps(instances[i], s);
}

/* A pool that earlier children of this generation died loading, each while it loaded no other
 * pool (a crashing import, whatever the probe's cache said), is not loaded again: its URLs
 * answer 500 with the reason, as after a failed probe, and every other pool serves.  One that
 * a child died loading (perhaps along with others, or of something else) is a suspect: loaded
 * first, on its own, so that if it crashes again the next child knows which pool it was.
 * Returns 1 to leave the pool alone; *alone says to load it on its own. */
static int left_alone(si_pool_spec *spec, int *alone)
{
    pid_t died = 0;
    si_load_verdict verdict = si_stats_load_verdict(spec, &died);
    *alone = verdict == SI_LOAD_SUSPECT;
    if (verdict == SI_LOAD_SUSPECT)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, spec->server, "SI0309: pool %s (%s): child "
                     "%" APR_PID_T_FMT " of this server died while it loaded this pool (and "
                     "perhaps others); this child (pid %" APR_PID_T_FMT ") loads it first, on "
                     "its own, to find out whether it crashes", spec->name, spec->defined_at,
                     died, getpid());
    if (verdict != SI_LOAD_GUILTY)
        return 0;
    /* malloc'd, for the child's life: requests and the status page read it, and the loader's
     * memory pool goes when it ends (pchild belongs to the child's main thread). */
    char *why = malloc(160);
    if (why)
        snprintf(why, 160, "children of this server died while they loaded this pool's apps, "
                 "the last pid %ld (see their exit signals above)", (long)died);
    spec->probe_failure = why ? why : "a child of this server died while it loaded this pool";
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, spec->server, "SI0309: pool %s (%s): %s, so this "
                 "child (pid %" APR_PID_T_FMT ") does not load it and its URLs answer 500; "
                 "other pools serve as usual.  Fix the app (or the extension) and restart "
                 "Apache: the pool is tried again then", spec->name, spec->defined_at,
                 spec->probe_failure, getpid());
    return 1;
}

/* Marks (on=1) or unmarks, in shared memory, every pool that round `k` builds. */
static void mark_round(si_loader *ld, int k, const int *skip, const int *alone, int on)
{
    for (int i = 0; i < ld->pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(ld->pools, i, si_pool *);
        if (!skip[i] && !alone[i] && k < pool->slot_count)
            si_stats_loading(pool->spec, on);
    }
}

/* Builds slot `k` of every pool that has one (k = 0: the first interpreters, before any other).
 * Own-GIL instances import their apps side by side (warm_up), the others as they are made;
 * each is installed once its apps are in.  Called with the loader's state attached; returns so. */
static void build_round(si_loader *ld, apr_pool_t *p, int k, const int *skip, const int *alone)
{
    int count = 0;
    apr_size_t most = (apr_size_t)ld->pools->nelts + 1;
    si_instance **deferred = apr_pcalloc(p, most * sizeof(*deferred));
    si_slot **where = apr_pcalloc(p, most * sizeof(*where));
    mark_round(ld, k, skip, alone, 1);
    for (int i = 0; i < ld->pools->nelts && !ld->stopping; i++) {
        si_pool *pool = APR_ARRAY_IDX(ld->pools, i, si_pool *);
        if (skip[i] || alone[i] || k >= pool->slot_count)
            continue;
        si_slot *slot = &pool->slots[k];
        if (pool->spec->gil != SI_GIL_OWN) {
            si_pool_swap(slot, si_instance_create(slot, ld->main_state, ld->server,
                                                  ld->global_path));
            continue;
        }
        si_instance *inst = si_instance_create_deferred(slot, ld->main_state, ld->server,
                                                        ld->global_path);
        if (!inst)
            continue;
        deferred[count] = inst;
        where[count++] = slot;
    }
    PyEval_SaveThread();
    warm_up(p, ld->server, deferred, count);
    /* Installed even when the child is exiting: the runtime's stop ends what is installed. */
    for (int i = 0; i < count; i++)
        si_pool_swap(where[i], deferred[i]);
    mark_round(ld, k, skip, alone, 0);
    si_tstate_restore(ld->main_state);
}

/* A suspect (SI0309): every interpreter of it, before any other pool loads, marked as the only
 * pool this process loads.  Called with the loader's state attached; returns so. */
static void build_alone(si_loader *ld, si_pool *pool)
{
    si_stats_loading(pool->spec, 1);
    for (int k = 0; k < pool->slot_count && !ld->stopping; k++)
        si_pool_swap(&pool->slots[k], si_instance_create(&pool->slots[k], ld->main_state,
                                                         ld->server, ld->global_path));
    si_stats_loading(pool->spec, 0);
}

static void log_started(si_loader *ld, apr_pool_t *p)
{
    /* Ready means serving every app: one whose import failed answers 500 (SI0301). */
    int ready = 0, failed = 0;
    const char *which = "";   /* the pools with failed interpreters, and their virtual hosts */
    for (int i = 0; i < ld->pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(ld->pools, i, si_pool *);
        int failed_here = 0;
        for (int k = 0; k < pool->slot_count; k++) {
            si_instance *inst = si_pool_current(&pool->slots[k]);
            ready += inst && inst->apps_failed == 0;
            failed_here += !inst || inst->apps_failed > 0;
        }
        if (failed_here)
            which = apr_psprintf(p, "%s%s %s (%s, %d of %d)", which, *which ? "," : ":",
                                 pool->name, pool->spec->server->server_hostname
                                 ? pool->spec->server->server_hostname : "main server",
                                 failed_here, pool->slot_count);
        failed += failed_here;
    }
    ap_log_error(APLOG_MARK, failed ? APLOG_WARNING : APLOG_INFO, 0, ld->server, "SI0200: "
                 "%s: Python %s, %d pool(s), %d of %u interpreter(s) ready, %d failed (an app "
                 "of theirs did not load)%s in %" APR_TIME_T_FMT " ms", si_config_process_label(),
                 Py_GetVersion(), ld->pools->nelts, ready, ld->slots, failed, which,
                 apr_time_as_msec(apr_time_now() - ld->started));
}

static void *APR_THREAD_FUNC loader_main(apr_thread_t *thread, void *data)
{
    si_loader *ld = data;
    apr_pool_t *p;
    int pools = ld->pools->nelts, rounds = 0;
    apr_size_t flags = ((apr_size_t)(pools > 0 ? pools : 0) + 1) * sizeof(int);
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        p = NULL;
    int *skip = p ? apr_pcalloc(p, flags) : NULL;
    int *alone = p ? apr_pcalloc(p, flags) : NULL;
    ld->main_state = p ? PyThreadState_New(PyInterpreterState_Main()) : NULL;
    if (ld->main_state) {
        si_tstate_restore(ld->main_state);
        for (int i = 0; i < pools; i++) {
            si_pool *pool = APR_ARRAY_IDX(ld->pools, i, si_pool *);
            skip[i] = pool->spec->probe_failure || left_alone(pool->spec, &alone[i]);
            if (!skip[i] && pool->slot_count > rounds)
                rounds = pool->slot_count;
        }
        for (int i = 0; i < pools && !ld->stopping; i++)
            if (alone[i])
                build_alone(ld, APR_ARRAY_IDX(ld->pools, i, si_pool *));
        for (int k = 0; k < rounds && !ld->stopping; k++)
            build_round(ld, p, k, skip, alone);
        /* Loaded to the end without this child dying: earlier deaths were something else. */
        for (int i = 0; i < pools && !ld->stopping; i++)
            if (!skip[i])
                si_stats_acquit(APR_ARRAY_IDX(ld->pools, i, si_pool *)->spec);
        PyThreadState_Clear(ld->main_state);
        PyThreadState_DeleteCurrent();
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_CRIT, APR_ENOMEM, ld->server, "SI0202: the loader "
                     "thread could not get a thread state or memory: no pool is loaded");
    }
    for (int i = 0; i < pools; i++)
        si_pool_started(APR_ARRAY_IDX(ld->pools, i, si_pool *));
    if (p) {
        log_started(ld, p);
        apr_pool_destroy(p);
    }
    return NULL;
}

static apr_status_t loader_stop(void *data)
{
    si_loader *ld = data;
    apr_status_t rv;
    ld->stopping = 1;
    si_must(apr_thread_join(&rv, ld->thread), "joining the loader thread");
    return APR_SUCCESS;
}

void si_startup_begin(apr_pool_t *pchild, server_rec *s, apr_array_header_t *pools,
                      apr_array_header_t *global_path, unsigned slots, apr_time_t started)
{
    si_loader *ld = apr_pcalloc(pchild, sizeof(*ld));
    *ld = (si_loader){.server = s, .pools = pools, .global_path = global_path, .slots = slots,
                      .started = started};
    for (int i = 0; i < pools->nelts; i++)
        si_pool_starting(APR_ARRAY_IDX(pools, i, si_pool *));
    apr_status_t rv = apr_thread_create(&ld->thread, NULL, loader_main, ld, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SI0202: the loader thread could not "
                     "start: no pool is loaded in this child");
        for (int i = 0; i < pools->nelts; i++)
            si_pool_started(APR_ARRAY_IDX(pools, i, si_pool *));
        return;
    }
    apr_pool_pre_cleanup_register(pchild, ld, loader_stop);
}
