/* stress_dispatch.c — ThreadSanitizer stress test of dispatch (si_pool.c) and the thread-state
 * cache (si_tstate.c), outside Apache (`make tsan`).
 *
 * Worker threads do what request threads do: take the least-busy slot of a pool, pin to its CPU
 * if cpu-affinity=auto says so, attach their cached state of its interpreter, run Python (a
 * CPU-time sample for the slot's average), detach, unpin, release.  Meanwhile a maintenance thread
 * does what recycling does: build a new own-GIL interpreter, swap it into a slot, and end retired
 * instances once drained and reaped (si_pool_end_retired, the real code).  At the end every
 * instance is ended and Python finalized.  TSan reports any data race in our code; the exit status says
 * whether every request saw the interpreter it was dispatched to.
 *
 * si_pool.c's instance creation imports apps through si_app.c and si_module.c, which need
 * Apache; this test makes its instances the way si_pool.c's create() does, minus the apps, and
 * links the few Apache and sibling symbols si_pool.c refers to from the definitions below
 * (those of app loading abort if the dispatch path ever reaches them; logging goes nowhere).
 */
#include "si_pool.h"
#include "si_app.h"
#include "si_maint.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

module AP_MODULE_DECLARE_DATA subinterp_module;

#define WORKERS 8
#define SLOTS 3
#define REQUESTS_PER_WORKER 3000   /* at least; workers go on until every swap was made */
#define SWAPS 40

static si_pool *pool;
static atomic_int workers_done;
static atomic_int swaps_done;
static atomic_llong requests_made;
static atomic_int mismatches;
static atomic_int wakes;

/* --- what si_pool.c links against, outside Apache ------------------------------------------ */
static void unreachable(const char *what)
{
    fprintf(stderr, "stress_dispatch: %s reached; this test never loads apps\n", what);
    abort();
}
PyObject *si_app_load(si_mount_conf *m) { (void)m; unreachable("si_app_load"); return NULL; }
PyObject *si_app_file_loader(void) { unreachable("si_app_file_loader"); return NULL; }
const char *si_app_log_load_failure(apr_pool_t *p, server_rec *s, request_rec *r,
                                    si_mount_conf *m, int i)
{ (void)p; (void)s; (void)r; (void)m; (void)i; unreachable("si_app_log_load_failure"); return ""; }
void si_app_trace_begin(void) { unreachable("si_app_trace_begin"); }
void si_app_run_exit_funcs(void) { unreachable("si_app_run_exit_funcs"); }
void si_app_trace_script(const si_mount_conf *m) { (void)m; unreachable("si_app_trace_script"); }
int si_app_prepare_interpreter(PyObject *m, si_module_state *st, si_pool_spec *spec, int i)
{ (void)m; (void)st; (void)spec; (void)i; unreachable("si_app_prepare_interpreter"); return -1; }
int si_app_prepare_path(apr_pool_t *p, apr_array_header_t *g, si_pool_spec *spec)
{ (void)p; (void)g; (void)spec; unreachable("si_app_prepare_path"); return -1; }
const char *si_exception_text(apr_pool_t *p) { (void)p; unreachable("si_exception_text"); return ""; }
PyObject *si_module_import(si_module_state **st) { (void)st; unreachable("si_module_import"); return NULL; }
const char *si_gil_name(si_gil_mode g) { (void)g; return "own"; }
void si_extfirst_note(const char *pool, int index) { (void)pool; (void)index; unreachable("si_extfirst_note"); }
void ap_log_error_(const char *file, int line, int index, int level, apr_status_t status,
                   const server_rec *s, const char *fmt, ...)
{ (void)file; (void)line; (void)index; (void)level; (void)status; (void)s; (void)fmt; }
void ap_log_rerror_(const char *file, int line, int index, int level, apr_status_t status,
                    const request_rec *r, const char *fmt, ...)
{ (void)file; (void)line; (void)index; (void)level; (void)status; (void)r; (void)fmt; }

/* --- instances, as si_pool.c's create() makes them ----------------------------------------- */
static si_instance *make_instance(si_slot *slot, PyThreadState *main_state)
{
    apr_thread_mutex_lock(pool->lock);
    si_instance *inst = apr_pcalloc(pool->mem, sizeof(*inst));
    apr_thread_mutex_unlock(pool->lock);
    inst->slot = slot;
    inst->generation = slot->recycles + (slot->current != NULL);
    PyInterpreterConfig config = {.use_main_obmalloc = 0, .allow_threads = 1,
                                  .check_multi_interp_extensions = 1,
                                  .gil = PyInterpreterConfig_OWN_GIL};
    PyThreadState *state = NULL;
    if (PyStatus_Exception(Py_NewInterpreterFromConfig(&state, &config)) || !state) {
        fprintf(stderr, "stress_dispatch: could not create an interpreter\n");
        exit(2);
    }
    si_tstate_note_attached(state);
    si_tstate_registry_init(&inst->registry, PyThreadState_GetInterpreter(state));
    si_tstate_register(&inst->registry, state);
    /* Something to tell interpreters apart by: each request checks it landed where it was sent. */
    PyObject *main = PyImport_AddModule("__main__");
    PyObject_SetAttrString(main, "generation",
                           PyLong_FromUnsignedLongLong(inst->generation * 100 + slot->index));
    PyEval_SaveThread();
    si_tstate_restore(main_state);
    return inst;
}

static void *APR_THREAD_FUNC worker(apr_thread_t *thread, void *data)
{
    (void)data;
    for (int n = 0; n < REQUESTS_PER_WORKER || atomic_load(&swaps_done) < SWAPS; n++) {
        atomic_fetch_add(&requests_made, 1);
        si_slot *slot;
        si_instance *inst;
        apr_time_t started = apr_time_now();
        if (si_pool_acquire(pool, NULL, NULL, &slot, &inst) != APR_SUCCESS) {
            atomic_fetch_add(&mismatches, 1);
            continue;
        }
        /* cpu-affinity=auto as si_request.c runs it: every thread updates the slot's average
         * and reads it to decide the pin. */
        si_cpu_set saved;
        int pinned = si_slot_pin(slot, &saved);
        if (!si_tstate_enter(slot->cache_index, &inst->registry)) {
            atomic_fetch_add(&mismatches, 1);
            if (pinned)
                si_slot_unpin(&saved);
            if (si_pool_release(pool, slot, inst, started))
                atomic_fetch_add(&wakes, 1);
            continue;
        }
        struct timespec cpu_start;
        int sampled = si_slot_cpu_sample_begin(slot, &cpu_start);
        PyObject *main = PyImport_AddModule("__main__");
        PyObject *generation = PyObject_GetAttrString(main, "generation");
        long long expected = (long long)(inst->generation * 100 + slot->index);
        if (!generation || PyLong_AsLongLong(generation) != expected)
            atomic_fetch_add(&mismatches, 1);
        Py_XDECREF(generation);
        PyObject *work = PyList_New(0);   /* a little allocation in this interpreter */
        for (int i = 0; work && i < 50; i++) {
            PyObject *v = PyLong_FromLong(i * n);
            PyList_Append(work, v);
            Py_XDECREF(v);
        }
        Py_XDECREF(work);
        if (sampled)
            si_slot_cpu_sample_end(slot, &cpu_start);
        si_tstate_leave();
        if (pinned)
            si_slot_unpin(&saved);
        if (si_pool_release(pool, slot, inst, started))
            atomic_fetch_add(&wakes, 1);
    }
    atomic_fetch_add(&workers_done, 1);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

static void *APR_THREAD_FUNC maintenance(apr_thread_t *thread, void *data)
{
    (void)data;
    PyThreadState *main_state = PyThreadState_New(PyInterpreterState_Main());
    for (int swap = 0; swap < SWAPS; swap++) {
        si_tstate_restore(main_state);
        si_instance *fresh = make_instance(&pool->slots[swap % SLOTS], main_state);
        PyEval_SaveThread();
        si_pool_swap(&pool->slots[swap % SLOTS], fresh);
        si_pool_end_retired(pool, NULL);
        atomic_fetch_add(&swaps_done, 1);
        apr_sleep(apr_time_from_msec(10));
    }
    while (atomic_load(&workers_done) < WORKERS) {
        si_pool_end_retired(pool, NULL);
        apr_sleep(apr_time_from_msec(20));
    }
    si_tstate_restore(main_state);
    PyThreadState_Clear(main_state);
    PyThreadState_DeleteCurrent();
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

int main(void)
{
    apr_pool_t *p;
    apr_initialize();
    apr_pool_create(&p, NULL);
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    if (PyStatus_Exception(Py_InitializeFromConfig(&config)))
        return 2;
    PyConfig_Clear(&config);
    PyThreadState *main_state = PyThreadState_Get();

    si_pool_spec conf = {.name = "stress", .interpreters = SLOTS, .gil = SI_GIL_OWN,
                         .queue_timeout = apr_time_from_sec(30), .max_requests = 500,
                         .cpu_affinity = SI_AFFINITY_AUTO,
                         .mounts = apr_array_make(p, 1, sizeof(si_mount_conf *))};
    unsigned cache_index = 0;
    if (si_pool_make(p, &conf, &cache_index, &pool) != APR_SUCCESS
        || si_tstate_init(p, cache_index) != APR_SUCCESS)
        return 2;
    for (int i = 0; i < SLOTS; i++)
        pool->slots[i].current = make_instance(&pool->slots[i], main_state);
    PyEval_SaveThread();

    apr_thread_t *threads[WORKERS + 1];
    for (int i = 0; i < WORKERS; i++)
        apr_thread_create(&threads[i], NULL, worker, NULL, p);
    apr_thread_create(&threads[WORKERS], NULL, maintenance, NULL, p);
    apr_status_t rv;
    for (int i = 0; i <= WORKERS; i++)
        apr_thread_join(&rv, threads[i]);

    /* Child exit: end everything, as si_runtime.c does. */
    si_pool_end_retired(pool, NULL);
    int left = 0;
    for (si_instance *inst = pool->retired; inst; inst = inst->next_retired)
        left += si_instance_end(inst, 1, 0) != SI_ENDED;
    for (int i = 0; i < SLOTS; i++)
        left += si_instance_end(pool->slots[i].current, 1, 0) != SI_ENDED;
    apr_uint64_t served = 0, recycles = 0;
    for (int i = 0; i < SLOTS; i++) {
        served += pool->slots[i].served;
        recycles += pool->slots[i].recycles;
    }
    si_tstate_restore(main_state);
    if (Py_FinalizeEx() < 0)
        left++;
    si_tstate_free_threads();
    apr_pool_destroy(p);
    apr_terminate();

    printf("stress_dispatch: %d workers, %lld requests, %" APR_UINT64_T_FMT " served, %"
           APR_UINT64_T_FMT " swaps, %d max-requests wakes, %d mismatches, %d not ended\n",
           WORKERS, atomic_load(&requests_made), served, recycles, atomic_load(&wakes),
           atomic_load(&mismatches), left);
    return atomic_load(&mismatches) == 0 && left == 0 && recycles == SWAPS
           && served == (apr_uint64_t)atomic_load(&requests_made) ? 0 : 1;
}
