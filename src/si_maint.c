/* si_maint.c — the maintenance thread (see si_maint.h). */
#include "si_maint.h"
#include "si_pool.h"
#include "si_exchange.h"
#include "si_shared_store.h"
#include "si_stats.h"

#include "pythread.h"

#include <pthread.h>

#define SI_MAINT_TICK apr_time_from_msec(200)
#define SI_DEADLINE_TICK apr_time_from_msec(50)
#define SI_DELIVERY_GRACE apr_time_from_sec(5)

typedef struct {
    server_rec *server;
    apr_array_header_t *pools;          /* si_pool * */
    apr_array_header_t *global_path;
    apr_thread_t *thread;               /* housekeeping: recycle, reload, end retired instances */
    apr_thread_t *deadline_thread;      /* request-timeout; never waits on a GIL */
    apr_thread_mutex_t *lock;           /* guards stopping, the tracked list, deliveries */
    apr_thread_cond_t *wake;
    apr_thread_cond_t *stop;            /* wakes the deadline thread to stop */
    apr_thread_cond_t *delivered;       /* a delivery thread finished */
    int deliveries;                     /* delivery threads running */
    int stopping;
    int kicked;                         /* a wake that arrived while we were busy */
    PyThreadState *main_state;          /* this thread's state of the main interpreter */
    si_deadline *tracked;               /* running requests with a deadline */
    apr_uint64_t serial;
} si_maint;

static si_maint *maint;                 /* one per child; C data only */
/* Delivery threads use maint only through this gate, which outlives the child's memory pool. */
static pthread_mutex_t delivery_gate = PTHREAD_MUTEX_INITIALIZER;
static int maint_gone;

void si_maint_wake(void)
{
    if (!maint)
        return;
    si_lock(maint->lock);
    maint->kicked = 1;
    si_signal(maint->wake);
    si_unlock(maint->lock);
}

void si_maint_track(si_request *req)
{
    if (!maint || req->mount->pool_spec->request_timeout <= 0)
        return;
    si_deadline *d = &req->deadline;
    si_lock(maint->lock);
    *d = (si_deadline){.at = apr_time_now() + req->mount->pool_spec->request_timeout,
                       .serial = ++maint->serial, .tracked = 1, .req = req,
                       .next = maint->tracked};
    if (maint->tracked)
        maint->tracked->prev = d;
    maint->tracked = d;
    si_unlock(maint->lock);
}

void si_maint_untrack(si_request *req)
{
    si_deadline *d = &req->deadline;
    if (!d->tracked)
        return;
    si_lock(maint->lock);
    if (d->prev)
        d->prev->next = d->next;
    else
        maint->tracked = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->tracked = 0;
    si_unlock(maint->lock);
    if (d->signalled)
        PyThreadState_SetAsyncExc(req->thread_ident, NULL);   /* never into the next request */
}

typedef struct {
    si_instance *inst;                  /* pinned until we are done */
    apr_uint64_t serial;
} si_delivery;

/* A request Apache nested in req (an SSI include, an ErrorDocument) that runs now in req's
 * interpreter, on req's thread, with the same thread state: an exception set for that thread
 * would interrupt it instead of req.  maint->lock held. */
static int nested_here(const si_request *req)
{
    for (si_deadline *t = maint->tracked; t; t = t->next)
        for (const si_request *outer = t->req->outer; outer; outer = outer->outer)
            if (outer == req && t->req->instance->registry.interp
                                == req->instance->registry.interp)
                return 1;
    return 0;
}

/* A delivery thread: raises RequestTimeout in one overdue request.  Attaching waits for the
 * interpreter's GIL, for as long as a C call holds it, which is why this is a thread of its own
 * and not the deadline thread.  While we hold the GIL the request cannot untrack itself (it does
 * so with the GIL held), so the check is exact; and in its interpreter its thread has only the
 * one state (si_tstate.c), so the thread id names it. */
static void *deliver(void *data)
{
    si_delivery *d = data;
    si_instance *inst = d->inst;
    PyThreadState *fresh = PyThreadState_New(inst->registry.interp);
    if (fresh)
        PyEval_RestoreThread(fresh);
    /* A C call may have held the GIL past child exit's grace (SI0442): then the child's memory
     * pool, and with it maint, the tracked requests and inst's pool record, may be gone. */
    si_plock(&delivery_gate);
    if (maint_gone) {
        si_punlock(&delivery_gate);
        if (fresh) {
            PyThreadState_Clear(fresh);
            PyThreadState_DeleteCurrent();
        }
        free(d);
        return NULL;
    }
    if (fresh) {
        si_lock(maint->lock);
        for (si_deadline *t = maint->tracked; t; t = t->next) {
            if (t->serial != d->serial)
                continue;
            si_request *req = t->req;
            if (nested_here(req)) {
                t->pending = 0;   /* the next tick tries again, once the nested one is done */
                break;
            }
            t->signalled = 1;
            PyThreadState_SetAsyncExc(req->thread_ident,
                                      (PyObject *)inst->st->request_timeout_type);
            /* Not ap_log_rerror: r's pool belongs to the request's thread. */
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, req->r->server, "SI0441: pool %s "
                         "interpreter %d: %s %s exceeded request-timeout=%" APR_TIME_T_FMT
                         ".%03d s; interrupting it (client %s)", inst->slot->pool->name,
                         inst->slot->index, req->r->method, req->r->uri,
                         apr_time_sec(req->mount->pool_spec->request_timeout),
                         (int)(apr_time_msec(req->mount->pool_spec->request_timeout) % 1000),
                         req->r->useragent_ip);
            break;
        }
        si_unlock(maint->lock);
        PyThreadState_Clear(fresh);
        PyThreadState_DeleteCurrent();
    }
    si_instance_unpin(inst);
    free(d);
    si_lock(maint->lock);
    maint->deliveries--;
    si_broadcast(maint->delivered);
    si_unlock(maint->lock);
    si_punlock(&delivery_gate);
    return NULL;
}

/* Hands each newly overdue request to a delivery thread.  Never attaches to an interpreter. */
static void check_deadlines(void)
{
    apr_time_t now = apr_time_now();
    si_lock(maint->lock);
    for (si_deadline *t = maint->tracked; t; t = t->next) {
        si_request *req = t->req;
        if (t->pending || t->at > now || !req->instance->st)
            continue;
        si_delivery *d = malloc(sizeof(*d));
        if (!d)
            break;
        *d = (si_delivery){.inst = req->instance, .serial = t->serial};
        si_instance_pin(d->inst);   /* the request pins it too, but may end before we attach */
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, deliver, d) == 0) {
            t->pending = 1;
            maint->deliveries++;
        }
        else {
            si_instance_unpin(d->inst);   /* tried again next tick */
            free(d);
        }
        pthread_attr_destroy(&attr);
    }
    si_unlock(maint->lock);
}

/* The deadline thread: request-timeout only, on a short tick, holding no GIL ever. */
static void *APR_THREAD_FUNC deadline_main(apr_thread_t *thread, void *data)
{
    for (;;) {
        si_lock(maint->lock);
        if (!maint->stopping)
            si_timedwait(maint->stop, maint->lock, SI_DEADLINE_TICK);
        int stopping = maint->stopping;
        si_unlock(maint->lock);
        if (stopping)
            break;
        check_deadlines();
    }
    /* Returning, not apr_thread_exit(): pthread_exit() unwinds without clearing ASan's
     * stack poisoning, and glibc hands the stack to the next thread (a false report there). */
    return NULL;
}

/* Builds a new instance for slot (the caller holds nothing; we borrow the main interpreter's GIL
 * only while CPython creates the interpreter). */
static si_instance *build(si_slot *slot)
{
    pid_t died;
    if (si_stats_load_verdict(slot->pool->spec, &died) == SI_LOAD_GUILTY)
        return NULL;   /* a child died loading it (SI0309): the current instance keeps serving */
    si_tstate_restore(maint->main_state);
    si_instance *fresh = si_instance_create(slot, maint->main_state, maint->server,
                                            maint->global_path);
    PyEval_SaveThread();
    return fresh;
}

/* A fresh instance that will never serve: ended now, or (app threads its imports started still
 * run, its ending blocks) kept on the pool's retired list, so that it is tried again, counted on
 * the status page and handled at child exit like any other. */
static void discard(si_pool *pool, si_instance *fresh)
{
    if (si_instance_end(fresh, 1, apr_time_now() + apr_time_from_sec(1)) != SI_ENDED)
        si_pool_retire(pool, fresh);
}

#define SI_RECYCLE_BACKOFF_MAX apr_time_from_sec(300)

/* max-requests reached, but the replacement did not load every app (an extension that loads in
 * one interpreter per process, a script broken since): the current instance keeps serving, and
 * the next try waits 10 s, doubling up to 5 min. */
static void replacement_failed(si_pool *pool, si_slot *slot, si_instance *fresh)
{
    apr_time_t wait = apr_time_from_sec(10);
    for (int i = 0; i < slot->recycle_failures && wait < SI_RECYCLE_BACKOFF_MAX; i++)
        wait *= 2;
    if (wait > SI_RECYCLE_BACKOFF_MAX)
        wait = SI_RECYCLE_BACKOFF_MAX;
    slot->recycle_failures++;
    slot->recycle_retry_at = apr_time_now() + wait;
    const char *why = "";
    for (int i = 0; fresh->why && i < pool->spec->mounts->nelts && !*why; i++)
        why = fresh->why[i] ? fresh->why[i] : "";
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, pool->spec->server, "SI0219: pool %s interpreter %d: "
                 "its replacement after max-requests=%d did not load every app (%s; SI0301 "
                 "above); the current interpreter keeps serving, next try in %d s",
                 pool->name, slot->index, pool->spec->max_requests, *why ? why : "set-up failed",
                 (int)apr_time_sec(wait));
    discard(pool, fresh);
}

static void recycle(si_pool *pool)
{
    int max_requests = pool->spec->max_requests;
    for (int i = 0; max_requests && i < pool->slot_count; i++) {
        si_slot *slot = &pool->slots[i];
        if (!slot->current || slot->served_current < (apr_uint64_t)max_requests
            || apr_time_now() < slot->recycle_retry_at)
            continue;
        apr_time_t started = apr_time_now();
        si_instance *fresh = build(slot);
        if (!fresh)
            continue;   /* logged (SI0202); the old one keeps serving */
        if (fresh->apps_failed > 0) {
            replacement_failed(pool, slot, fresh);
            continue;
        }
        slot->recycle_failures = 0;
        si_pool_swap(slot, fresh);
        si_stats_add(pool->spec, SI_STAT_RECYCLES);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, pool->spec->server, "SI0210: pool %s "
                     "interpreter %d: recycled after %d requests (generation %" APR_UINT64_T_FMT
                     ", built in %" APR_TIME_T_FMT " ms)", pool->name, slot->index, max_requests,
                     fresh->generation, apr_time_as_msec(apr_time_now() - started));
    }
}

static void reload(si_pool *pool)
{
    if (!pool->spec->reloading || pool->spec->gil == SI_GIL_MAIN)
        return;
    apr_time_t mtime = si_pool_scripts_mtime(pool);
    if (mtime <= pool->scripts_mtime)
        return;
    pool->scripts_mtime = mtime;
    apr_time_t started = apr_time_now();
    si_instance **fresh = calloc(pool->slot_count, sizeof(*fresh));
    int ok = fresh != NULL;
    for (int i = 0; ok && i < pool->slot_count; i++) {
        fresh[i] = build(&pool->slots[i]);
        ok = fresh[i] && fresh[i]->apps_failed == 0;
    }
    for (int i = 0; fresh && i < pool->slot_count; i++) {
        if (ok)
            si_pool_swap(&pool->slots[i], fresh[i]);
        else if (fresh[i])
            discard(pool, fresh[i]);   /* never served: nothing of it is bound anywhere */
    }
    if (ok) {
        si_stats_add(pool->spec, SI_STAT_RELOADS);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pool->spec->server, "SI0211: pool %s: a "
                     "script changed; %d interpreter(s) reloaded in %" APR_TIME_T_FMT " ms",
                     pool->name, pool->slot_count, apr_time_as_msec(apr_time_now() - started));
    }
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, pool->spec->server, "SI0310: pool %s: reloading "
                     "after a script change failed (a new interpreter could not be made, or a "
                     "script did not load: SI0202, SI0301); the previous interpreters keep "
                     "serving", pool->name);
    free(fresh);
}

/* Ends retired instances whose requests are done and whose states no thread is bound to. */
static void *APR_THREAD_FUNC maint_main(apr_thread_t *thread, void *data)
{
    maint->main_state = PyThreadState_New(PyInterpreterState_Main());
    for (;;) {
        si_lock(maint->lock);
        if (!maint->stopping && !maint->kicked)
            si_timedwait(maint->wake, maint->lock, SI_MAINT_TICK);
        maint->kicked = 0;
        int stopping = maint->stopping;
        si_unlock(maint->lock);
        if (stopping || !maint->main_state)
            break;
        for (int i = 0; i < maint->pools->nelts; i++) {
            si_pool *pool = APR_ARRAY_IDX(maint->pools, i, si_pool *);
            if (si_pool_is_starting(pool))
                continue;   /* the loader (si_startup.c) still builds it */
            recycle(pool);
            reload(pool);
            si_pool_end_retired(pool, maint->server);
            si_cache_sweep(pool->store);
        }
    }
    if (maint->main_state) {
        si_tstate_restore(maint->main_state);
        PyThreadState_Clear(maint->main_state);
        PyThreadState_DeleteCurrent();
    }
    /* Returning, not apr_thread_exit(): pthread_exit() unwinds without clearing ASan's
     * stack poisoning, and glibc hands the stack to the next thread (a false report there). */
    return NULL;
}

static apr_status_t maint_stop(void *data)
{
    apr_status_t rv;
    si_lock(maint->lock);
    maint->stopping = 1;
    si_signal(maint->wake);
    si_signal(maint->stop);
    si_unlock(maint->lock);
    si_must(apr_thread_join(&rv, maint->thread), "joining the maintenance thread");
    if (maint->deadline_thread)
        si_must(apr_thread_join(&rv, maint->deadline_thread), "joining the deadline thread");
    /* Delivery threads end once they get their GIL; one held by a C call may keep them. */
    apr_time_t deadline = apr_time_now() + SI_DELIVERY_GRACE;
    si_lock(maint->lock);
    while (maint->deliveries > 0 && apr_time_now() < deadline)
        si_timedwait(maint->delivered, maint->lock, deadline - apr_time_now());
    int left = maint->deliveries;
    si_unlock(maint->lock);
    si_plock(&delivery_gate);
    maint_gone = 1;
    si_punlock(&delivery_gate);
    if (left)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, maint->server, "SI0442: child %"
                     APR_PID_T_FMT ": %d request-timeout delivery(ies) still wait for an "
                     "interpreter's GIL (held by a C call) at exit", getpid(), left);
    return APR_SUCCESS;
}

apr_status_t si_maint_start(apr_pool_t *pchild, server_rec *s, apr_array_header_t *pools,
                            apr_array_header_t *global_path)
{
    apr_status_t rv;
    maint = apr_pcalloc(pchild, sizeof(*maint));
    maint->server = s;
    maint->pools = pools;
    maint->global_path = global_path;
    for (int i = 0; i < pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(pools, i, si_pool *);
        pool->scripts_mtime = si_pool_scripts_mtime(pool);
    }
    if ((rv = apr_thread_mutex_create(&maint->lock, APR_THREAD_MUTEX_DEFAULT, pchild))
            != APR_SUCCESS
        || (rv = apr_thread_cond_create(&maint->wake, pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&maint->stop, pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&maint->delivered, pchild)) != APR_SUCCESS
        || (rv = apr_thread_create(&maint->thread, NULL, maint_main, NULL, pchild))
            != APR_SUCCESS) {
        maint = NULL;
        return rv;
    }
    if ((rv = apr_thread_create(&maint->deadline_thread, NULL, deadline_main, NULL, pchild))
            != APR_SUCCESS) {
        maint->deadline_thread = NULL;
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SI0208: the deadline thread could not "
                     "start: no request timeouts in this child");
    }
    apr_pool_pre_cleanup_register(pchild, NULL, maint_stop);
    return APR_SUCCESS;
}
