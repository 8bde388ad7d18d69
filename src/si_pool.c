/* si_pool.c — interpreter instances of a pool, and least-busy dispatch. */
#include "si_pool.h"
#include "si_app.h"
#include "si_extpath.h"
#include "si_extfirst.h"
#include "si_shared_store.h"

#include <errno.h>
#include <malloc.h>

/* The CPUs this child may run on (taskset, cpusets), in order; how many (0 if unknown). */
static int allowed_cpus(int *cpus)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            cpus[n++] = cpu;
    return n;
}

/* cpu-affinity=auto pins a slot's requests once they average this much CPU time attached.  A
 * pin costs two system calls and, for a thread on another CPU, a migration: a few
 * microseconds, and Apache's own work for the request (its filters, the socket writes) then
 * shares the interpreter's core.  Pinned (cpu-affinity=on), hello-world lost (0.84-0.94x) and
 * Flask, whose call alone takes ~120 us in-process, gained (1.01-1.15x, the p99 1.5-1.8x
 * shorter); with this threshold, make bench's hello stays unpinned and Flask and the 2 ms mixed
 * workload are pinned (docs/hot-path.md). */
#define SI_PIN_MIN_CPU_USEC 100
/* One request in this many on a thread is timed (never its first, which pays for its new
 * thread state and stack): the thread CPU clock is a system call. */
#define SI_CPU_SAMPLE_EVERY 8
/* What one sample counts for at most: a slow request among short ones (page faults, a garbage
 * collection) cannot pin their slot by itself, and a slot of long ones still crosses the
 * threshold after 6 samples. */
#define SI_CPU_SAMPLE_MAX (2 * SI_PIN_MIN_CPU_USEC)

int si_slot_pins_now(si_slot *slot)
{
    return slot->cpu >= 0 && (slot->pool->spec->cpu_affinity != SI_AFFINITY_AUTO
                              || atomic_load_explicit(&slot->request_cpu_usec,
                                                      memory_order_relaxed)
                                 >= SI_PIN_MIN_CPU_USEC);
}

int si_slot_cpu_sample_begin(si_slot *slot, struct timespec *start)
{
    static _Thread_local unsigned requests;
    return slot->cpu >= 0 && slot->pool->spec->cpu_affinity == SI_AFFINITY_AUTO
           && ++requests % SI_CPU_SAMPLE_EVERY == 0
           && clock_gettime(CLOCK_THREAD_CPUTIME_ID, start) == 0;
}

void si_slot_cpu_sample_end(si_slot *slot, const struct timespec *start)
{
    struct timespec end;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end) != 0)
        return;
    long long usec = (end.tv_sec - start->tv_sec) * 1000000LL
                     + (end.tv_nsec - start->tv_nsec) / 1000;
    unsigned sample = usec < 0 ? 0 : usec > SI_CPU_SAMPLE_MAX ? SI_CPU_SAMPLE_MAX : (unsigned)usec;
    /* A moving average over about 8 samples; two threads updating at once may lose one
     * sample, which only delays the average. */
    unsigned old = atomic_load_explicit(&slot->request_cpu_usec, memory_order_relaxed);
    atomic_store_explicit(&slot->request_cpu_usec, old - old / 8 + sample / 8,
                          memory_order_relaxed);
}

int si_slot_pin(si_slot *slot, si_cpu_set *saved)
{
    if (!si_slot_pins_now(slot)
        || pthread_getaffinity_np(pthread_self(), sizeof(saved->cpus), &saved->cpus) != 0)
        return 0;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(slot->cpu, &one);
    return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
}

void si_slot_unpin(const si_cpu_set *saved)
{
    /* Fails only if every CPU of the old set went away; the thread then keeps the slot's. */
    (void)pthread_setaffinity_np(pthread_self(), sizeof(saved->cpus), &saved->cpus);
}

apr_status_t si_pool_make(apr_pool_t *p, si_pool_spec *spec, unsigned *next_cache_index,
                          si_pool **out)
{
    si_pool *pool = apr_pcalloc(p, sizeof(*pool));
    apr_status_t rv;
    pool->spec = spec;
    pool->name = spec->name;
    pool->mem = p;
    pool->slot_count = spec->interpreters;
    pool->slots = apr_pcalloc(p, pool->slot_count * sizeof(si_slot));
    if ((rv = apr_thread_mutex_create(&pool->lock, APR_THREAD_MUTEX_DEFAULT, p)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&pool->freed, p)) != APR_SUCCESS)
        return rv;
    /* Not from p: app threads of an interpreter left running at exit may still use it
     * (si_store_destroy decides when it can go). */
    if (!(pool->store = si_store_create(spec->cache_size)))
        return APR_ENOMEM;
    int cpus[CPU_SETSIZE], ncpus = spec->cpu_affinity ? allowed_cpus(cpus) : 0;
    for (int i = 0; i < pool->slot_count; i++) {
        pool->slots[i].pool = pool;
        pool->slots[i].index = i;
        pool->slots[i].label = apr_psprintf(p, "%s:%d", spec->name, i);
        pool->slots[i].cache_index = (*next_cache_index)++;
        /* By the slot's number in the whole child, so that several pinned pools spread. */
        pool->slots[i].cpu = ncpus ? cpus[pool->slots[i].cache_index % ncpus] : -1;
    }
    *out = pool;
    return APR_SUCCESS;
}

apr_time_t si_pool_scripts_mtime(si_pool *pool)
{
    apr_time_t newest = 0;
    apr_finfo_t finfo;
    apr_pool_t *ptemp;
    if (apr_pool_create(&ptemp, NULL) != APR_SUCCESS)
        return 0;   /* as if nothing could be read: no reload this tick */
    for (int i = 0; i < pool->spec->mounts->nelts; i++) {
        si_mount_conf *mount = APR_ARRAY_IDX(pool->spec->mounts, i, si_mount_conf *);
        if (apr_stat(&finfo, mount->script, APR_FINFO_MTIME, ptemp) == APR_SUCCESS
            && finfo.mtime > newest)
            newest = finfo.mtime;
    }
    apr_pool_destroy(ptemp);
    return newest;
}

static PyStatus new_interpreter(si_pool_spec *spec, PyThreadState **state)
{
    PyInterpreterConfig config = {0};
    if (spec->gil == SI_GIL_OWN) {
        /* Public fields only; OWN_GIL requires its own obmalloc, which requires the
         * multi-interpreter extension check.  No fork/exec in a threaded server's child. */
        config.use_main_obmalloc = 0;
        config.allow_fork = 0;
        config.allow_exec = 0;
        config.allow_threads = 1;
        /* Sentry, OpenTelemetry and logging's QueueListener start daemon threads at import.
         * Ending an interpreter that still runs one is handled (si_instance_end: atexit, then
         * parked), so they are allowed unless daemon-threads=off. */
        config.allow_daemon_threads = spec->daemon_threads;
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

void si_instance_remember_failure(si_instance *inst, int i, const char *why)
{
    free(inst->why[i]);
    inst->why[i] = why ? strdup(why) : NULL;
}

const char *si_instance_failure(si_instance *inst, si_mount_conf *mount)
{
    if (mount->index < 0 || !inst->why || !inst->why[mount->index])
        return "";
    return inst->why[mount->index];
}

static pthread_mutex_t ender_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ender_done = PTHREAD_COND_INITIALIZER;
/* Every instance this process made, linked by next_made; ender_lock.  What is still running or
 * was never ended stays reachable here to the process's end. */
static si_instance *made;

/* Imports the pool's scripts in order (imports come first); under preload=off only the
 * SubinterpImportScripts, which exist to run at start-up. */
static void load_apps(si_instance *inst, server_rec *s, apr_pool_t *ptemp)
{
    si_pool_spec *spec = inst->slot->pool->spec;
    si_app_trace_begin();
    for (int i = 0; i < spec->mounts->nelts; i++) {
        si_mount_conf *mount = APR_ARRAY_IDX(spec->mounts, i, si_mount_conf *);
        if (spec->lazy && mount->kind != SI_SCRIPT_IMPORT)
            continue;
        si_app_trace_script(mount);
        inst->apps[i] = si_app_load(mount);
        inst->app_state[i] = inst->apps[i] ? SI_APP_LOADED : SI_APP_FAILED;
        if (!inst->apps[i]) {
            if (mount->kind != SI_SCRIPT_IMPORT)
                inst->apps_failed++;
            si_instance_remember_failure(inst, i, si_app_log_load_failure(
                ptemp, spec->server, NULL, mount, inst->slot->index));
        }
    }
    si_extfirst_note(spec->name, inst->slot->index);
}

/* A set-up step failed (out of memory or mutexes, or the Python exception `step` describes):
 * the instance then serves nothing (every mount and file answers 500, and it never counts as
 * ready), and the log says which step. */
static void set_up_failed(si_instance *inst, const char *step, apr_status_t rv)
{
    si_pool_spec *spec = inst->slot->pool->spec;
    ap_log_error(APLOG_MARK, APLOG_CRIT, rv, spec->server, "SI0203: pool %s interpreter %d: "
                 "set-up failed: %s", spec->name, inst->slot->index, step);
    inst->apps_failed = spec->mounts->nelts + 1;
}

/* Runs in the instance's interpreter, attached: module, environ constants, sys.path, and the
 * apps unless `defer` (preload=off, or a parallel warm-up to follow). */
static void set_up(si_instance *inst, server_rec *s, apr_array_header_t *global_path,
                   apr_pool_t *ptemp, int defer)
{
    si_slot *slot = inst->slot;
    si_pool_spec *spec = slot->pool->spec;
    inst->module = si_module_import(&inst->st);
    if (inst->module && !inst->st->store)
        inst->st->store = slot->pool->store;   /* gil=main pools: the first one's */
    if (!inst->module || !(inst->pool_name = PyUnicode_FromString(spec->name))
        || si_app_prepare_interpreter(inst->module, inst->st, spec, slot->index) < 0
        || si_app_prepare_path(ptemp, global_path, spec) < 0) {
        set_up_failed(inst, si_exception_text(ptemp), 0);
        return;
    }
    /* One more than needed, so that a pool serving only files still gets an array. */
    inst->apps = calloc(spec->mounts->nelts + 1, sizeof(PyObject *));
    inst->app_state = calloc(spec->mounts->nelts + 1, 1);
    inst->retry_at = calloc(spec->mounts->nelts + 1, sizeof(apr_time_t));
    inst->failures = calloc(spec->mounts->nelts + 1, sizeof(int));
    inst->why = calloc(spec->mounts->nelts + 1, sizeof(char *));
    if (!inst->apps || !inst->app_state || !inst->retry_at || !inst->failures || !inst->why) {
        set_up_failed(inst, "out of memory for its app table", APR_ENOMEM);
        return;
    }
    if (spec->serves_files && !(inst->file_loader = si_app_file_loader())) {
        set_up_failed(inst, si_exception_text(ptemp), 0);
        return;
    }
    apr_status_t rv;
    /* preload=off: apps are imported by the first request that needs each */
    if (spec->lazy && (rv = apr_thread_mutex_create(&inst->load_lock, APR_THREAD_MUTEX_DEFAULT,
                                                    slot->pool->mem)) != APR_SUCCESS) {
        inst->load_lock = NULL;
        set_up_failed(inst, "no mutex for preload=off imports", rv);
        return;
    }
    if (!defer)
        load_apps(inst, s, ptemp);
}

void si_instance_load_apps(si_instance *inst, server_rec *s)
{
    inst->deferred = 0;
    if (!inst->apps)
        return;
    apr_pool_t *ptemp;
    apr_status_t rv = apr_pool_create(&ptemp, NULL);
    if (rv != APR_SUCCESS) {
        set_up_failed(inst, "no memory to import its apps", rv);
        return;
    }
    PyThreadState *state = si_tstate_attach_fresh(&inst->registry);
    if (state) {
        load_apps(inst, s, ptemp);
        PyThreadState_Clear(state);
        PyThreadState_DeleteCurrent();
    }
    apr_pool_destroy(ptemp);
}

static si_instance *create(si_slot *slot, PyThreadState *main_state, server_rec *s,
                           apr_array_header_t *global_path, int defer)
{
    si_pool *pool = slot->pool;
    si_pool_spec *spec = pool->spec;
    apr_pool_t *ptemp;
    apr_status_t rv = apr_pool_create(&ptemp, NULL);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, spec->server, "SI0202: pool %s: creating "
                     "interpreter %d failed: no memory", spec->name, slot->index);
        return NULL;
    }
    si_instance *inst = calloc(1, sizeof(*inst));   /* never freed: see si_pool.h */
    if (!inst) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, APR_ENOMEM, spec->server, "SI0202: pool %s: "
                     "creating interpreter %d failed: no memory", spec->name, slot->index);
        apr_pool_destroy(ptemp);
        return NULL;
    }
    si_plock(&ender_lock);
    inst->next_made = made;
    made = inst;
    si_punlock(&ender_lock);
    inst->slot = slot;
    inst->spec = spec;
    inst->slot_index = slot->index;
    inst->gil = spec->gil;
    inst->generation = slot->recycles + (slot->current != NULL);

    if (spec->gil == SI_GIL_MAIN) {
        rv = si_tstate_registry_init(&inst->registry, PyInterpreterState_Main());
        if (rv != APR_SUCCESS)
            set_up_failed(inst, "no mutex for its thread-state registry", rv);
        else
            set_up(inst, s, global_path, ptemp, 0);
        apr_pool_destroy(ptemp);
        return inst;
    }
    PyThreadState *state = NULL;
    PyStatus status = new_interpreter(spec, &state);
    if (PyStatus_Exception(status) || !state) {
        if (PyThreadState_GetUnchecked() != main_state) {
            if (PyThreadState_GetUnchecked())
                PyEval_SaveThread();
            si_tstate_restore(main_state);
        }
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, spec->server, "SI0202: pool %s: creating "
                     "interpreter %d (gil=%s) failed: %s", spec->name, slot->index,
                     si_gil_name(spec->gil), status.err_msg ? status.err_msg : "unknown error");
        inst->ended = 1;   /* no interpreter to end: freed at exit with the others */
        apr_pool_destroy(ptemp);
        return NULL;
    }
    si_tstate_note_attached(state);
    rv = si_tstate_registry_init(&inst->registry, PyThreadState_GetInterpreter(state));
    si_extpath_register(inst->registry.interp, spec);
    /* Unregistered, the interpreter's first state would never be deleted, and ending the
     * interpreter later would find a state no one owns. */
    if (rv != APR_SUCCESS || si_tstate_register(&inst->registry, state) < 0)
        set_up_failed(inst, "no memory or mutex for its thread-state registry",
                      rv != APR_SUCCESS ? rv : APR_ENOMEM);
    else {
        inst->deferred = defer && spec->gil == SI_GIL_OWN;
        set_up(inst, s, global_path, ptemp, inst->deferred);
    }
    /* The new interpreter's state is attached (own GIL: main's was detached); swap back. */
    PyEval_SaveThread();
    si_tstate_restore(main_state);
    apr_pool_destroy(ptemp);
    return inst;
}

/* Interpreters are created one at a time (the child's loader and the maintenance thread may both
 * want to): see docs/design.md.  Taken with no GIL held, since a creation under way releases
 * and retakes the main interpreter's. */
static pthread_mutex_t creation_lock = PTHREAD_MUTEX_INITIALIZER;

static si_instance *create_serialized(si_slot *slot, PyThreadState *main_state, server_rec *s,
                                      apr_array_header_t *global_path, int defer)
{
    PyEval_SaveThread();
    si_plock(&creation_lock);
    si_tstate_restore(main_state);
    si_instance *inst = create(slot, main_state, s, global_path, defer);
    PyEval_SaveThread();
    si_punlock(&creation_lock);
    si_tstate_restore(main_state);
    return inst;
}

si_instance *si_instance_create(si_slot *slot, PyThreadState *main_state, server_rec *s,
                                apr_array_header_t *global_path)
{
    return create_serialized(slot, main_state, s, global_path, 0);
}

si_instance *si_instance_create_deferred(si_slot *slot, PyThreadState *main_state,
                                         server_rec *s, apr_array_header_t *global_path)
{
    return create_serialized(slot, main_state, s, global_path, 1);
}

static void release_objects(si_instance *inst)
{
    if (inst->apps) {
        for (int i = 0; i < inst->spec->mounts->nelts; i++)
            Py_CLEAR(inst->apps[i]);
        free(inst->apps);
        inst->apps = NULL;
    }
    free(inst->app_state);
    inst->app_state = NULL;
    free(inst->retry_at);
    inst->retry_at = NULL;
    free(inst->failures);
    inst->failures = NULL;
    for (int i = 0; inst->why && i < inst->spec->mounts->nelts; i++)
        free(inst->why[i]);
    free(inst->why);
    inst->why = NULL;
    Py_CLEAR(inst->file_loader);
    Py_CLEAR(inst->pool_name);
    Py_CLEAR(inst->module);
    inst->st = NULL;
}

/* Threads other than `self` that have a state in self's interpreter: the app's own (threading,
 * _thread, or a C library's).  Our own states were reaped before. */
static int app_threads(PyThreadState *self)
{
    int n = 0;
    PyInterpreterState *interp = PyThreadState_GetInterpreter(self);
    for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t; t = PyThreadState_Next(t))
        n += t != self;
    return n;
}

/* atexit callbacks, once: Sentry, OpenTelemetry and others stop their threads there. */
static void run_exit_funcs(si_instance *inst)
{
    if (inst->exit_funcs_run)
        return;
    inst->exit_funcs_run = 1;
    si_app_run_exit_funcs();
}

#define SI_PARK_NOTICE apr_time_from_sec(10) /* recycling: parked this long is worth a line */

/* How many app threads remain, giving them until `deadline` to end (GIL released meanwhile). */
static int wait_for_app_threads(PyThreadState *self, apr_time_t deadline)
{
    int n;
    while ((n = app_threads(self)) > 0 && apr_time_now() < deadline)
        si_tstate_nap(apr_time_from_msec(20));
    return n;
}

static void drop_state(void)
{
    PyThreadState_Clear(PyThreadState_Get());
    PyThreadState_DeleteCurrent();
}

/* The Python part of ending an instance, on the ender thread (end_thread): a thread of its own,
 * which binds nothing but the states it makes here, so that the finalizers that reaping and
 * Py_EndInterpreter run find this interpreter's state bound (PyGILState_Ensure: sqlite3's
 * user-function destructor, ctypes callbacks), and whatever app code runs (atexit, __del__,
 * a join of the app's threads) delays only this thread: the caller waits for it within a bound
 * and goes on without it. */
static si_end_result end_in_python(si_instance *inst, int all, apr_time_t grace_until)
{
    PyThreadState *fresh = PyThreadState_New(inst->registry.interp);
    if (!fresh)
        return SI_NOT_YET;
    PyEval_RestoreThread(fresh);
    int kept = si_tstate_reap(&inst->registry, all);
    if (!(fresh = si_tstate_rebind()))
        return SI_NOT_YET;
    if (kept > 0) {
        /* Some thread still has one of its states as its gilstate binding; next time. */
        drop_state();
        return SI_NOT_YET;
    }
    if (inst->gil != SI_GIL_MAIN && app_threads(fresh) > 0) {
        if (inst->st)
            inst->st->ending = 1;   /* app threads waiting on a shared queue leave */
        run_exit_funcs(inst);
        int left = wait_for_app_threads(fresh, all ? grace_until : 0);
        if (left > 0) {
            inst->threads_left = left;
            drop_state();
            return all ? SI_ABANDONED : SI_NOT_YET;
        }
    }
    release_objects(inst);
    if (inst->gil == SI_GIL_MAIN) {
        drop_state();
        return SI_ENDED;
    }
    si_extpath_unregister(inst->registry.interp);
    Py_EndInterpreter(fresh);
    return SI_ENDED;
}

/* An ender the child gave up on (SI0218 at exit) may still finish while the child's memory pool
 * is being destroyed: it touches only the instance (malloc'd, freed only once it ended and
 * Python is gone), its spec (the configuration's) and Python, never the child's memory pool. */

static void *end_thread(void *data)
{
    si_instance *inst = data;
    si_end_result result = end_in_python(inst, inst->end_all, inst->end_grace);
    si_plock(&ender_lock);
    inst->end_result = result;
    inst->ender = SI_ENDER_DONE;
    si_must(pthread_cond_broadcast(&ender_done), "broadcasting ender_done");
    si_punlock(&ender_lock);
    return NULL;
}

/* How long maintenance waits for one instance to end before it goes on without it. */
#define SI_END_BOUND apr_time_from_sec(10)

static void log_stuck_end(si_instance *inst, int all, apr_interval_time_t waited)
{
    si_pool_spec *spec = inst->spec;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, spec->server, "SI0218: pool %s interpreter %d: "
                 "ending generation %" APR_UINT64_T_FMT " did not finish within %d s: app code "
                 "run while it ends (an atexit callback, a __del__ or finalizer, a join of its "
                 "threads) blocks.  It is left to finish on a thread of its own; %s", spec->name,
                 inst->slot_index, inst->generation, (int)apr_time_sec(waited),
                 all ? "Python is not finalized in this child" : "maintenance of every pool "
                 "goes on");
}

si_end_result si_instance_end(si_instance *inst, int all, apr_time_t grace_until)
{
    if (inst->ended)
        return SI_ENDED;
    apr_time_t now = apr_time_now();
    if (!all && now < inst->end_retry_at)
        return SI_NOT_YET;
    si_plock(&ender_lock);
    if (inst->ender == SI_ENDER_RUNNING && !all) {
        /* Stuck since an earlier try (SI0218 said so): maintenance waits for it no more. */
        si_punlock(&ender_lock);
        inst->end_retry_at = now + apr_time_from_sec(1);
        return SI_NOT_YET;
    }
    if (inst->ender == SI_ENDER_IDLE) {
        inst->end_all = all;
        inst->end_grace = grace_until;
        pthread_t thread;
        pthread_attr_t attr;
        int rc = pthread_attr_init(&attr);
        if (rc == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&thread, &attr, end_thread, inst);
            pthread_attr_destroy(&attr);
        }
        if (rc != 0) {
            si_punlock(&ender_lock);
            return all ? SI_ABANDONED : SI_NOT_YET;   /* tried again next tick */
        }
        inst->ender = SI_ENDER_RUNNING;
    }
    /* At child exit every instance gets the rest of the grace (which the ender itself gives app
     * threads), and a second more to end. */
    apr_time_t until = all ? (grace_until > now ? grace_until : now) + apr_time_from_sec(1)
                           : now + SI_END_BOUND;
    apr_time_t waited_from = now;
    while (inst->ender == SI_ENDER_RUNNING && (now = apr_time_now()) < until) {
        struct timespec at = {.tv_sec = apr_time_sec(until),
                              .tv_nsec = (long)apr_time_usec(until) * 1000};
        int rc = pthread_cond_timedwait(&ender_done, &ender_lock, &at);
        si_must(rc == ETIMEDOUT ? 0 : rc, "waiting on ender_done");
    }
    if (inst->ender == SI_ENDER_RUNNING) {
        int first = !inst->end_stuck_logged;
        inst->end_stuck_logged = 1;
        si_punlock(&ender_lock);
        if (first || all)
            log_stuck_end(inst, all, apr_time_now() - waited_from);
        return all ? SI_ABANDONED : SI_NOT_YET;
    }
    si_end_result result = inst->end_result;
    inst->ender = SI_ENDER_IDLE;
    si_punlock(&ender_lock);
    if (result == SI_ENDED) {
        inst->ended = 1;
        return SI_ENDED;
    }
    /* Parked (app threads still run in it, or a state is still some thread's binding): a
     * thread for each try is cheap, but not one every tick for an interpreter parked for good. */
    inst->end_retry_at = apr_time_now() + apr_time_from_sec(1);
    if (inst->threads_left > 0) {
        si_pool_spec *spec = inst->spec;
        now = apr_time_now();
        if (!inst->parked_since)
            inst->parked_since = now;
        if (all)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, spec->server, "SI0214: pool %s "
                         "interpreter %d: %d application thread(s) still ran when the "
                         "child's grace for them ended; that interpreter is left as it is "
                         "and Python is not finalized in this child (pid %" APR_PID_T_FMT
                         ")", spec->name, inst->slot_index, inst->threads_left, getpid());
        else if (!inst->park_logged && now - inst->parked_since >= SI_PARK_NOTICE) {
            inst->park_logged = 1;
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, spec->server, "SI0213: pool %s "
                         "interpreter %d: generation %" APR_UINT64_T_FMT " was replaced "
                         "but %d application thread(s) still run in it; it stays parked "
                         "(not ended, its memory kept) until they end", spec->name,
                         inst->slot_index, inst->generation, inst->threads_left);
        }
    }
    return result;
}

void si_instances_free_ended(void)
{
    si_plock(&ender_lock);
    si_instance **link = &made;
    while (*link) {
        si_instance *inst = *link;
        if (inst->ended && inst->ender != SI_ENDER_RUNNING) {
            *link = inst->next_made;
            free(inst->registry.states);
            free(inst);
        }
        else {
            link = &inst->next_made;
        }
    }
    si_punlock(&ender_lock);
}

void si_instance_pin(si_instance *inst)
{
    si_pool *pool = inst->slot->pool;
    si_lock(pool->lock);
    inst->pins++;
    si_unlock(pool->lock);
}

void si_instance_unpin(si_instance *inst)
{
    si_pool *pool = inst->slot->pool;
    si_lock(pool->lock);
    inst->pins--;
    si_unlock(pool->lock);
}

void si_pool_end_retired(si_pool *pool, server_rec *s)
{
    si_lock(pool->lock);
    si_instance **link = &pool->retired;
    while (*link) {
        si_instance *inst = *link;
        if (inst->active > 0 || inst->pins > 0) {
            link = &inst->next_retired;
            continue;
        }
        si_unlock(pool->lock);
        int ended = si_instance_end(inst, 0, 0) == SI_ENDED;
        if (ended)
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, pool->spec->server, "SI0212: pool %s "
                         "interpreter %d: "
                         "generation %" APR_UINT64_T_FMT " ended", pool->name,
                         inst->slot->index, inst->generation);
        si_lock(pool->lock);
        if (ended) {
            *link = inst->next_retired;   /* only we unlink: the list head may have grown */
            /* Give back what glibc kept of the interpreter's malloc'd memory (docs/reliability.md:
             * a few MB less after many recycles); CPython's own share stays (gh-113055). */
            malloc_trim(0);
        }
        else {
            link = &inst->next_retired;
        }
    }
    si_unlock(pool->lock);
}

static void retire_locked(si_pool *pool, si_instance *inst)
{
    inst->retired = 1;
    inst->next_retired = pool->retired;
    pool->retired = inst;
}

void si_pool_swap(si_slot *slot, si_instance *fresh)
{
    si_pool *pool = slot->pool;
    si_lock(pool->lock);
    si_instance *old = slot->current;
    slot->current = fresh;
    slot->served_current = 0;
    if (old) {
        slot->recycles++;
        retire_locked(pool, old);
    }
    if (fresh && pool->waiting)
        si_broadcast(pool->freed);   /* requests that waited for a first interpreter */
    si_unlock(pool->lock);
}

si_instance *si_pool_current(si_slot *slot)
{
    si_lock(slot->pool->lock);
    si_instance *inst = slot->current;
    si_unlock(slot->pool->lock);
    return inst;
}

void si_pool_starting(si_pool *pool)
{
    si_lock(pool->lock);
    pool->starting = 1;
    si_unlock(pool->lock);
}

void si_pool_started(si_pool *pool)
{
    si_lock(pool->lock);
    pool->starting = 0;
    if (pool->waiting)
        si_broadcast(pool->freed);
    si_unlock(pool->lock);
}

int si_pool_is_starting(si_pool *pool)
{
    si_lock(pool->lock);
    int starting = pool->starting;
    si_unlock(pool->lock);
    return starting;
}

int si_pool_wait_started(si_pool *pool, apr_interval_time_t most)
{
    si_lock(pool->lock);
    if (pool->starting) {
        pool->waiting++;   /* si_pool_started broadcasts to waiters */
        si_timedwait(pool->freed, pool->lock, most);
        pool->waiting--;
    }
    int started = !pool->starting;
    si_unlock(pool->lock);
    return started;
}

void si_pool_retire(si_pool *pool, si_instance *inst)
{
    si_lock(pool->lock);
    retire_locked(pool, inst);
    si_unlock(pool->lock);
}

apr_status_t si_pool_acquire(si_pool *pool, si_slot *held_slot, si_instance *held_inst,
                             si_slot **out, si_instance **inst)
{
    apr_time_t deadline = 0;
    int max_active = pool->spec->max_active;
    si_lock(pool->lock);
    for (;;) {
        /* A slot whose instance failed to load an app serves only when no slot is ready: it
         * would answer 500 where another answers 200 (its failure is set before it is swapped
         * in, and never changes). */
        si_slot *best = NULL;
        int best_ready = 0;
        for (int k = 0; k < pool->slot_count; k++) {
            si_slot *slot = &pool->slots[(pool->next + k) % pool->slot_count];
            if (!slot->current)
                continue;
            int ready = slot->current->apps_failed == 0;
            if (!best || ready > best_ready
                || (ready == best_ready && slot->active < best->active)) {
                best = slot;
                best_ready = ready;
            }
        }
        if (!best && !pool->starting) {
            si_unlock(pool->lock);
            return APR_ENOENT;
        }
        if (best && (max_active == 0 || best->active < max_active)) {
            best->active++;
            best->current->active++;
            pool->next = (unsigned)(best->index + 1);
            *out = best;
            *inst = best->current;
            break;
        }
        if (best && held_slot) {
            held_slot->active++;
            held_inst->active++;
            *out = held_slot;
            *inst = held_inst;
            break;
        }
        apr_time_t now = apr_time_now();
        if (!deadline)
            deadline = now + pool->spec->queue_timeout;
        if (now >= deadline) {
            pool->rejected++;
            si_unlock(pool->lock);
            return APR_TIMEUP;
        }
        pool->waiting++;
        si_timedwait(pool->freed, pool->lock, deadline - now);
        pool->waiting--;
    }
    si_unlock(pool->lock);
    return APR_SUCCESS;
}

int si_pool_release(si_pool *pool, si_slot *slot, si_instance *inst, apr_time_t started)
{
    si_lock(pool->lock);
    slot->active--;
    inst->active--;
    slot->served++;
    int due = 0;
    if (inst == slot->current)
        due = ++slot->served_current == (apr_uint64_t)pool->spec->max_requests;
    slot->busy_usec += apr_time_now() - started;
    if (pool->waiting)
        si_signal(pool->freed);
    si_unlock(pool->lock);
    return due;
}
