/* si_runtime.c — Python's life in an Apache child (see si_runtime.h). */
#include "si_runtime.h"
#include "si_config.h"
#include "si_module.h"
#include "si_pool.h"
#include "si_maint.h"
#include "si_startup.h"
#include "si_extpath.h"
#include "si_extfirst.h"
#include "si_app.h"
#include "si_shared.h"
#include "si_shared_store.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#ifndef SI_DEFAULT_PYTHON_HOME
#define SI_DEFAULT_PYTHON_HOME NULL
#endif

typedef struct {
    server_rec *server;
    apr_array_header_t *pools;      /* si_pool * of the pools this process runs */
    si_pool **by_ordinal;           /* every pool's place: its si_pool here, or NULL */
    int ordinals;
    PyThreadState *main_state;      /* the child main thread's, detached while serving */
    apr_time_t started;
} si_runtime;

static si_runtime *runtime;   /* this child's; C data only */

si_pool *si_runtime_pool(const si_pool_spec *spec)
{
    if (!runtime || spec->ordinal < 0 || spec->ordinal >= runtime->ordinals)
        return NULL;
    return runtime->by_ordinal[spec->ordinal];
}

apr_array_header_t *si_runtime_pools(void)
{
    return runtime ? runtime->pools : NULL;
}

apr_time_t si_runtime_started(void)
{
    return runtime ? runtime->started : apr_time_now();
}

static int initialize_python(server_rec *s, si_server_conf *conf)
{
    if (PyImport_AppendInittab("_subinterp", si_module_init) < 0
        || PyImport_AppendInittab("mod_subinterp", si_public_module_init) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "SI0201: registering _subinterp and "
                     "mod_subinterp failed");
        return -1;
    }
    /* Apache's children run in the C locale, where Python's text I/O would be ASCII: open() of a
     * UTF-8 file or print("café") would fail.  UTF-8 mode (PEP 540, the default from 3.15 by
     * PEP 686) makes file, stream and os-level encodings UTF-8 whatever the locale. */
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.utf8_mode = conf->utf8 != 0;
    PyStatus prestatus = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(prestatus)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "SI0201: Python could not be pre-initialized: "
                     "%s", prestatus.err_msg ? prestatus.err_msg : "unknown error");
        return -1;
    }
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;    /* signals belong to Apache */
    config.parse_argv = 0;
    const char *home = conf->python_home ? conf->python_home : SI_DEFAULT_PYTHON_HOME;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "apache2");
    if (!PyStatus_Exception(status) && home)
        status = PyConfig_SetBytesString(&config, &config.home, home);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "SI0201: Python could not be initialized "
                     "(home %s): %s%s%s", home ? home : "(default)",
                     status.func ? status.func : "", status.func ? ": " : "",
                     status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

/* _datetime keeps process-wide static types whose first initialization allocates from the
 * importing interpreter; when that is a sub-interpreter, ending two of them frees objects into
 * the wrong allocator (double free, CPython gh-136423 / gh-136421, measured on 3.13.0 with any
 * app that imports datetime, sqlite3 or zoneinfo).  Importing it in the main interpreter first
 * makes the main interpreter own them. */
static void preload_shared_static_types(server_rec *s)
{
    PyObject *module = PyImport_ImportModule("_datetime");
    if (!module) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SI0207: importing _datetime in the main "
                     "interpreter failed; ending interpreters that use datetime may crash");
        PyErr_Clear();
    }
    Py_XDECREF(module);
}

static void install_extension_paths(server_rec *s, si_server_conf *conf)
{
    if (si_extpath_install(conf->python_path) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SI0215: the main interpreter's finder "
                     "for extension inits could not be installed (%s); a cffi extension of a "
                     "pool's virtualenv may fail to import", si_exception_text(s->process->pool));
    }
}

/* App threads' time to finish at child exit, for all interpreters together: well inside
 * Apache's GracefulShutdownTimeout defaults. */
#define SI_EXIT_GRACE apr_time_from_sec(5)

/* Non-daemon threads of the main interpreter other than its main thread, given until deadline
 * to end: Py_FinalizeEx joins them without a bound.  Called with the main state attached. */
static int main_app_threads(apr_time_t deadline)
{
    for (;;) {
        int n = 0;
        PyObject *name = PyUnicode_FromString("threading");
        PyObject *module = name ? PyImport_GetModule(name) : NULL;
        Py_XDECREF(name);
        PyObject *threads = module ? PyObject_CallMethod(module, "enumerate", NULL) : NULL;
        PyObject *main = module ? PyObject_CallMethod(module, "main_thread", NULL) : NULL;
        for (Py_ssize_t i = 0; threads && main && i < PyList_GET_SIZE(threads); i++) {
            PyObject *t = PyList_GET_ITEM(threads, i), *daemon;
            if (t == main || !(daemon = PyObject_GetAttrString(t, "daemon")))
                continue;
            n += !PyObject_IsTrue(daemon);
            Py_DECREF(daemon);
        }
        PyErr_Clear();
        Py_XDECREF(main);
        Py_XDECREF(threads);
        Py_XDECREF(module);
        if (n == 0 || apr_time_now() >= deadline)
            return n;
        si_tstate_nap(apr_time_from_msec(20));
    }
}

/* The main interpreter's atexit callbacks (gil=main pools' apps registered them), run before
 * Py_FinalizeEx on a thread of their own: one that never returns would otherwise keep the child
 * from exiting for good.  Static: a thread left running may finish after stop_runtime. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int finished;
} main_exit = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void *run_main_exit_funcs(void *unused)
{
    PyThreadState *state = PyThreadState_New(PyInterpreterState_Main());
    if (state) {
        PyEval_RestoreThread(state);
        si_app_run_exit_funcs();
        PyThreadState_Clear(state);
        PyThreadState_DeleteCurrent();
    }
    si_plock(&main_exit.lock);
    main_exit.finished = 1;
    si_must(pthread_cond_broadcast(&main_exit.done), "broadcasting main_exit.done");
    si_punlock(&main_exit.lock);
    return NULL;
}

/* Called with the main state attached; returns so.  0 if the callbacks did not end by the grace
 * (and a second): SI0220, and Python must not be finalized. */
static int main_exit_funcs_ended(si_runtime *rt, apr_time_t grace_until)
{
    pthread_t thread;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return 1;   /* Py_FinalizeEx runs them, unbounded, as before */
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    PyThreadState *self = PyEval_SaveThread();
    int rc = pthread_create(&thread, &attr, run_main_exit_funcs, NULL);
    pthread_attr_destroy(&attr);
    apr_time_t until = (grace_until > apr_time_now() ? grace_until : apr_time_now())
                       + apr_time_from_sec(1);
    si_plock(&main_exit.lock);
    while (rc == 0 && !main_exit.finished && apr_time_now() < until) {
        struct timespec at = {.tv_sec = apr_time_sec(until),
                              .tv_nsec = (long)apr_time_usec(until) * 1000};
        int waited = pthread_cond_timedwait(&main_exit.done, &main_exit.lock, &at);
        si_must(waited == ETIMEDOUT ? 0 : waited, "waiting on main_exit.done");
    }
    int finished = rc != 0 || main_exit.finished;
    si_punlock(&main_exit.lock);
    PyEval_RestoreThread(self);
    if (!finished)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rt->server, "SI0220: %s"
                     ": the main interpreter's atexit callbacks (registered by a gil=main "
                     "pool's app) did not return by the end of the exit grace; they are left "
                     "running and Python is not finalized", si_config_process_label());
    return finished;
}

/* Ends one instance at child exit; returns 1 if it had to be left as it is. */
static int end_at_exit(si_instance *inst, apr_time_t grace_until)
{
    /* The MPM joined its workers, but mod_http2 runs requests on threads of its own: one may
     * still be inside this interpreter. */
    si_pool *pool = inst->slot->pool;
    si_lock(pool->lock);
    while (inst->active > 0 && apr_time_now() < grace_until) {
        si_unlock(pool->lock);
        apr_sleep(apr_time_from_msec(20));
        si_lock(pool->lock);
    }
    int busy = inst->active;
    si_unlock(pool->lock);
    if (busy > 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pool->spec->server, "SI0214: pool %s "
                     "interpreter %d: %d request(s) still ran in it at child exit; that "
                     "interpreter is left as it is and Python is not finalized in this child",
                     pool->name, inst->slot->index, busy);
        return 1;
    }
    if (inst->pins > 0) {
        /* A timeout delivery still waits for its GIL (a C call holding it): attaching here
         * would wait as long (SI0442 said so). */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, inst->slot->pool->spec->server, "SI0214: "
                     "pool %s interpreter %d: a thread still waits for its GIL; that "
                     "interpreter is left as it is and Python is not finalized in this child",
                     inst->slot->pool->name, inst->slot->index);
        return 1;
    }
    return si_instance_end(inst, 1, grace_until) == SI_ABANDONED;
}

static int end_pool(si_pool *pool, apr_time_t grace_until)
{
    int abandoned = 0;
    for (int k = 0; k < pool->slot_count; k++) {
        if (pool->slots[k].current)
            abandoned += end_at_exit(pool->slots[k].current, grace_until);
        pool->slots[k].current = NULL;
    }
    for (si_instance *inst = pool->retired; inst; inst = inst->next_retired)
        abandoned += end_at_exit(inst, grace_until);
    pool->retired = NULL;
    return abandoned;
}

/* Runs when the child's memory pool is destroyed: the MPM has joined the worker threads, and the
 * maintenance thread's pre-cleanup has joined it, so no other thread of ours touches Python.
 * App threads may: an interpreter they still run in is left alone, and then so is Python's
 * finalization, which would end it (and abort) or join them without a bound; the process is
 * about to exit anyway. */
static apr_status_t stop_runtime(void *data)
{
    si_runtime *rt = data;
    apr_time_t started = apr_time_now(), grace_until = started + SI_EXIT_GRACE;
    int ended = 0, abandoned = 0;
    /* Sub-interpreters first: Py_FinalizeEx must find only the main one left. */
    for (int i = 0; i < rt->pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(rt->pools, i, si_pool *);
        if (pool->spec->gil != SI_GIL_MAIN) {
            ended += pool->slot_count;
            abandoned += end_pool(pool, grace_until);
        }
    }
    for (int i = 0; i < rt->pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(rt->pools, i, si_pool *);
        if (pool->spec->gil == SI_GIL_MAIN)
            abandoned += end_pool(pool, grace_until);
    }
    runtime = NULL;
    si_extpath_reset();
    si_extfirst_reset();
    if (abandoned) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rt->server, "SI0209: %s"
                     ": %d interpreter(s) could not be ended (SI0214); Python is not finalized",
                     si_config_process_label(), abandoned);
        return APR_SUCCESS;
    }
    si_tstate_restore(rt->main_state);
    si_tstate_reap(si_tstate_main_registry(), 1);
    int left = main_app_threads(grace_until);
    if (left > 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rt->server, "SI0214: %s"
                     ": %d non-daemon application thread(s) of the main interpreter (gil=main "
                     "pools) still ran %d s after the child began to exit; Python is not "
                     "finalized", si_config_process_label(), left,
                     (int)apr_time_sec(SI_EXIT_GRACE));
        PyEval_SaveThread();
        return APR_SUCCESS;
    }
    if (!main_exit_funcs_ended(rt, grace_until)) {
        PyEval_SaveThread();
        return APR_SUCCESS;
    }
    if (Py_FinalizeEx() < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rt->server,
                     "SI0205: Python finalization reported an error (buffered data lost?)");
    si_tstate_free_threads();
    si_instances_free_ended();
    /* No Python runs any more; a daemon thread still in a queue wait is woken and leaves. */
    for (int i = 0; i < rt->pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(rt->pools, i, si_pool *);
        if (pool->store && si_store_destroy(pool->store) < 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rt->server, "SI0216: pool %s: a thread "
                         "was still inside mod_subinterp.shared at exit; its memory is left to "
                         "the process's end", pool->name);
        pool->store = NULL;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, rt->server, "SI0206: %s: Python stopped, %d "
                 "sub-interpreter(s) ended in %" APR_TIME_T_FMT " ms", si_config_process_label(),
                 ended, apr_time_as_msec(apr_time_now() - started));
    return APR_SUCCESS;
}

/* Python in the main interpreter as pools need it; returns the calling thread's state of it
 * (attached), or NULL (logged).  A child and a start-up probe start the same way. */
static PyThreadState *start_python(server_rec *s, si_server_conf *conf)
{
    if (initialize_python(s, conf) < 0)
        return NULL;
    PyThreadState *main_state = PyThreadState_Get();
    si_tstate_note_attached(main_state);
    preload_shared_static_types(s);
    install_extension_paths(s, conf);
    return main_state;
}

int si_runtime_probe(apr_pool_t *p, server_rec *s, si_pool_spec *spec, int report_fd)
{
    si_server_conf *server_conf = si_server_config(s);
    si_pool *pool;
    unsigned slots = 0;
    PyThreadState *main_state;
    spec->interpreters = 1;   /* what one interpreter survives, every one does */
    if (si_pool_make(p, spec, &slots, &pool) != APR_SUCCESS
        || si_tstate_init(p, slots) != APR_SUCCESS || !(main_state = start_python(s, server_conf)))
        return -1;
    /* The Python stack of a crash goes to the report too, whichever interpreter it is in. */
    char code[128];
    apr_snprintf(code, sizeof(code), "import faulthandler\n"
                 "faulthandler.enable(%d, all_threads=True)\n", report_fd);
    if (PyRun_SimpleString(code) != 0)
        PyErr_Clear();
    si_app_trace_imports(report_fd);
    si_instance *inst = si_instance_create(&pool->slots[0], main_state, s,
                                           server_conf->python_path);
    char line[64];
    int n = apr_snprintf(line, sizeof(line), "done %d\n", inst ? inst->apps_failed : -1);
    return write(report_fd, line, n) == n ? 0 : -1;
}

void si_runtime_child_init(apr_pool_t *pchild, server_rec *s)
{
    si_server_conf *conf = si_server_config(s);
    apr_array_header_t *specs = si_config_pool_specs(pchild, s);
    int here = 0;
    for (int i = 0; i < specs->nelts; i++)
        here += si_config_runs_here(APR_ARRAY_IDX(specs, i, si_pool_spec *));
    if (here == 0)
        return;   /* nothing mounted, or only process pools: no Python in this child */
    si_config_name_process();

    apr_time_t started = apr_time_now();
    si_runtime *rt = apr_pcalloc(pchild, sizeof(*rt));
    rt->server = s;
    rt->pools = apr_array_make(pchild, here, sizeof(si_pool *));
    rt->ordinals = specs->nelts;
    rt->by_ordinal = apr_pcalloc(pchild, specs->nelts * sizeof(si_pool *));
    unsigned slots = 0;
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        si_pool *pool;
        if (!si_config_runs_here(spec))
            continue;
        apr_status_t rv = si_pool_make(pchild, spec, &slots, &pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SI0204: pool %s: no memory or mutex",
                         spec->name);
            return;
        }
        APR_ARRAY_PUSH(rt->pools, si_pool *) = pool;
        rt->by_ordinal[spec->ordinal] = pool;
    }
    if (si_tstate_init(pchild, slots) != APR_SUCCESS || !(rt->main_state = start_python(s, conf)))
        return;   /* pools stay unattached: their mounts answer 500 with SI0502 */

    PyEval_SaveThread();
    rt->started = started;
    runtime = rt;
    /* Registered first, so run last: after the maintenance thread's pre-cleanup and the
     * loader's (si_startup.c), which join them. */
    apr_pool_cleanup_register(pchild, rt, stop_runtime, apr_pool_cleanup_null);
    apr_status_t rv = si_maint_start(pchild, s, rt->pools, conf->python_path);
    if (rv != APR_SUCCESS)
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "SI0208: the maintenance thread could not "
                     "start: no recycling, reloading or request timeouts in this child");
    /* The pools load on a thread of their own: the child accepts connections at once, and only
     * a pool's own requests wait for it (issue 24: a graceful restart stalled every vhost for
     * the slowest import). */
    si_startup_begin(pchild, s, rt->pools, conf->python_path, slots, started);
}
