/* si_pool.c — interpreter creation and teardown for a pool, and least-busy dispatch. */
#include "si_pool.h"
#include "si_app.h"

apr_status_t si_pool_make(apr_pool_t *p, si_pool_conf *conf, unsigned *next_cache_index,
                          si_pool **out)
{
    si_pool *pool = apr_pcalloc(p, sizeof(*pool));
    apr_status_t rv;
    pool->conf = conf;
    pool->name = conf->name;
    pool->count = conf->interpreters;
    pool->interps = apr_pcalloc(p, pool->count * sizeof(si_interp));
    if ((rv = apr_thread_mutex_create(&pool->lock, APR_THREAD_MUTEX_DEFAULT, p)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&pool->freed, p)) != APR_SUCCESS)
        return rv;
    for (int i = 0; i < pool->count; i++) {
        si_interp *slot = &pool->interps[i];
        slot->pool = pool;
        slot->index = i;
        if ((rv = si_tstate_registry_init(&slot->registry, p, (*next_cache_index)++)) != APR_SUCCESS)
            return rv;
    }
    *out = pool;
    return APR_SUCCESS;
}

static PyStatus new_interpreter(si_gil_mode gil, PyThreadState **state)
{
    PyInterpreterConfig config = {0};
    if (gil == SI_GIL_OWN) {
        /* Public fields only; OWN_GIL requires its own obmalloc, which requires the
         * multi-interpreter extension check.  No fork/exec in a threaded server's child. */
        config.use_main_obmalloc = 0;
        config.allow_fork = 0;
        config.allow_exec = 0;
        config.allow_threads = 1;
        config.allow_daemon_threads = 0;
        config.check_multi_interp_extensions = 1;
        config.gil = PyInterpreterConfig_OWN_GIL;
    }
    else {
        /* A legacy sub-interpreter: shares the main GIL, tolerates single-phase extensions. */
        config.use_main_obmalloc = 1;
        config.allow_fork = 1;
        config.allow_exec = 1;
        config.allow_threads = 1;
        config.allow_daemon_threads = 1;
        config.check_multi_interp_extensions = 0;
        config.gil = PyInterpreterConfig_SHARED_GIL;
    }
    return Py_NewInterpreterFromConfig(state, &config);
}

/* Runs in the slot's interpreter, attached: module, environ constants, sys.path, apps. */
static void set_up(si_interp *slot, server_rec *s, apr_array_header_t *global_path,
                   apr_pool_t *ptemp)
{
    si_pool_conf *conf = slot->pool->conf;
    slot->module = si_module_import(&slot->st);
    if (!slot->module || !(slot->pool_name = PyUnicode_FromString(conf->name))
        || si_app_prepare_path(ptemp, global_path, conf) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "SI0203: pool %s interpreter %d: set-up "
                     "failed: %s", conf->name, slot->index, si_exception_text(ptemp));
        return;
    }
    slot->apps = calloc(conf->mounts->nelts, sizeof(PyObject *));
    for (int i = 0; slot->apps && i < conf->mounts->nelts; i++) {
        si_mount_conf *mount = APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *);
        slot->apps[i] = si_app_load(mount);
        if (!slot->apps[i])
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "SI0301: pool %s interpreter %d: loading "
                         "%s for %s failed; that mount answers 500:\n%s", conf->name,
                         slot->index, mount->script, mount->url[0] ? mount->url : "/",
                         si_exception_text(ptemp));
    }
    slot->ready = slot->apps != NULL;
}

void si_pool_start_interp(si_interp *slot, PyThreadState *main_state, server_rec *s,
                          apr_array_header_t *global_path)
{
    si_pool_conf *conf = slot->pool->conf;
    apr_pool_t *ptemp;
    apr_pool_create(&ptemp, NULL);
    if (conf->gil == SI_GIL_MAIN) {
        slot->registry.interp = PyInterpreterState_Main();
        set_up(slot, s, global_path, ptemp);
        apr_pool_destroy(ptemp);
        return;
    }
    PyThreadState *state = NULL;
    PyStatus status = new_interpreter(conf->gil, &state);
    if (PyStatus_Exception(status) || !state) {
        /* The caller's state is attached again after a failed creation. */
        if (PyThreadState_GetUnchecked() != main_state) {
            if (PyThreadState_GetUnchecked())
                PyEval_SaveThread();
            PyEval_RestoreThread(main_state);
        }
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "SI0202: pool %s: creating interpreter %d "
                     "(gil=%s) failed: %s", conf->name, slot->index, si_gil_name(conf->gil),
                     status.err_msg ? status.err_msg : "unknown error");
        apr_pool_destroy(ptemp);
        return;
    }
    slot->home = state;
    slot->registry.interp = PyThreadState_GetInterpreter(state);
    set_up(slot, s, global_path, ptemp);
    /* Own GIL: the new interpreter's state is attached and main's detached; swap back. */
    PyEval_SaveThread();
    PyEval_RestoreThread(main_state);
    apr_pool_destroy(ptemp);
}

static void release_objects(si_interp *slot)
{
    si_pool_conf *conf = slot->pool->conf;
    if (slot->apps) {
        for (int i = 0; i < conf->mounts->nelts; i++)
            Py_CLEAR(slot->apps[i]);
        free(slot->apps);
        slot->apps = NULL;
    }
    Py_CLEAR(slot->pool_name);
    Py_CLEAR(slot->module);
    slot->st = NULL;
}

void si_pool_stop_interp(si_interp *slot)
{
    slot->ready = 0;
    if (!slot->registry.interp)
        return;
    if (slot->pool->conf->gil == SI_GIL_MAIN) {
        si_tstate_delete_all(&slot->registry);
        release_objects(slot);
        return;
    }
    if (!slot->home)
        return;
    /* Py_EndInterpreter aborts ("not the last thread") unless every other state of the
     * interpreter is gone, and PyThreadState_Clear needs one of its states attached. */
    PyEval_RestoreThread(slot->home);
    si_tstate_delete_all(&slot->registry);
    release_objects(slot);
    Py_EndInterpreter(slot->home);
    slot->home = NULL;
    slot->registry.interp = NULL;
}

apr_status_t si_pool_acquire(si_pool *pool, request_rec *r, si_interp **out)
{
    apr_time_t deadline = 0;
    int max_active = pool->conf->max_active;
    apr_thread_mutex_lock(pool->lock);
    for (;;) {
        si_interp *best = NULL;
        for (int k = 0; k < pool->count; k++) {
            si_interp *slot = &pool->interps[(pool->next + k) % pool->count];
            if (slot->ready && (!best || slot->active < best->active))
                best = slot;
        }
        if (!best) {
            apr_thread_mutex_unlock(pool->lock);
            return APR_ENOENT;
        }
        if (max_active == 0 || best->active < max_active) {
            best->active++;
            pool->next = (unsigned)(best->index + 1);
            *out = best;
            break;
        }
        apr_time_t now = apr_time_now();
        if (!deadline)
            deadline = now + pool->conf->queue_timeout;
        if (now >= deadline) {
            apr_thread_mutex_unlock(pool->lock);
            return APR_TIMEUP;
        }
        pool->waiting++;
        apr_thread_cond_timedwait(pool->freed, pool->lock, deadline - now);
        pool->waiting--;
    }
    apr_thread_mutex_unlock(pool->lock);
    return APR_SUCCESS;
}

void si_pool_release(si_pool *pool, si_interp *slot)
{
    apr_thread_mutex_lock(pool->lock);
    slot->active--;
    slot->served++;
    if (pool->waiting)
        apr_thread_cond_signal(pool->freed);
    apr_thread_mutex_unlock(pool->lock);
}
