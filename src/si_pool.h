/* si_pool.h — a pool of identical interpreters and the least-busy dispatch across them.
 *
 * A pool has a fixed number of slots.  Each slot is served by one interpreter instance at a
 * time; recycling and reloading build a new instance in the background, swap it into the slot,
 * and retire the old one, which ends once its last request has finished and its thread states
 * could be reaped.  A request takes the slot with the fewest active requests (ties: round robin)
 * and pins the slot's current instance until it ends.
 */
#ifndef SI_POOL_H
#define SI_POOL_H

#include "si_common.h"
#include "si_config.h"
#include "si_module.h"
#include "si_tstate.h"

#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"

#include <sched.h>
#include <stdatomic.h>
#include <time.h>

struct si_pool;
struct si_slot;

/* Where one mount's app stands in one instance (preload=off loads it at its first request). */
typedef enum {
    SI_APP_NOT_LOADED = 0,   /* calloc's zero */
    SI_APP_LOADED,
    SI_APP_FAILED,           /* retried after a backoff (retry_at) */
} si_app_state;

/* Where ending an instance stands: its ender thread (si_instance_end) runs, or has a result. */
typedef enum { SI_ENDER_IDLE = 0, SI_ENDER_RUNNING, SI_ENDER_DONE } si_ender_state;

/* malloc'd, and freed only at child exit once it ended (si_instances_free_ended; a few hundred
 * bytes each until then): a thread's cache may still point at a retired one's registry long
 * after its interpreter ended, and an ender left running at child exit may finish after the
 * child's memory pool is gone. */
typedef struct si_instance {
    struct si_slot *slot;
    si_pool_spec *spec;             /* the configuration's (what an ender may read) */
    int slot_index;
    si_gil_mode gil;
    apr_uint64_t generation;        /* 0 for the slot's first instance */
    si_tstate_registry registry;    /* the interpreter and its thread states */
    int active;                     /* requests pinned to it; pool->lock */
    int retired;                    /* replaced in its slot; ends once drained and reaped */
    int ended;
    int pins;                       /* helpers that will attach to it (timeout delivery);
                                     * pool->lock */
    apr_time_t parked_since;        /* retired and drained, but app threads still run in it */
    int park_logged, exit_funcs_run;
    int deferred;                   /* its apps are imported later (si_instance_load_apps) */
    /* ending (si_instance_end); the ender fields are guarded by si_pool.c's ender_lock */
    si_ender_state ender;
    int end_all;
    apr_time_t end_grace;
    int end_result;                 /* an si_end_result, once ender is SI_ENDER_DONE */
    int end_stuck_logged;
    int threads_left;               /* app threads still running at the last try */
    apr_time_t end_retry_at;        /* parked: the next try, not every maintenance tick */
    /* Python objects owned by this interpreter (never touched from another one) */
    PyObject *module;               /* _subinterp */
    si_module_state *st;
    PyObject *pool_name;            /* str, for environ */
    PyObject **apps;                /* per mount of the pool; NULL where loading failed */
    int apps_failed;                /* how many mounts failed to load */
    unsigned char *app_state;       /* per mount, preload=off: an si_app_state */
    apr_time_t *retry_at;           /* per mount, preload=off: a failed import is retried then */
    int *failures;                  /* per mount: consecutive failed imports (for the backoff) */
    char **why;                     /* per mount: why it failed to load (malloc'd), or NULL */
    apr_thread_mutex_t *load_lock;  /* serializes preload=off imports (taken without the GIL) */
    PyObject *file_loader;          /* loads subinterp-script files (pools that serve them) */
    struct si_instance *next_retired;
    struct si_instance *next_made;  /* si_pool.c's list of every instance; its ender_lock */
} si_instance;

typedef struct si_slot {
    struct si_pool *pool;
    int index;                      /* in the pool */
    const char *label;              /* "pool:index", for the subinterp-pool request note */
    unsigned cache_index;           /* in every thread's state cache */
    si_instance *current;           /* NULL if it could not be created; pool->lock */
    int active;                     /* requests running now; pool->lock */
    apr_uint64_t served;            /* by every instance of the slot */
    apr_uint64_t served_current;    /* by the current instance */
    apr_uint64_t recycles;
    apr_time_t busy_usec;           /* summed request time, for the average */
    int cpu;                        /* cpu-affinity=on or auto: the CPU its requests run on (auto:
                                     * once they are long); -1: any */
    _Atomic unsigned request_cpu_usec;  /* auto: CPU time a request spends attached, a moving
                                         * average of samples (si_slot_cpu_sample_*) */
    /* max-requests: a replacement that failed to load is not installed; the next try waits
     * (maintenance thread only) */
    int recycle_failures;
    apr_time_t recycle_retry_at;
} si_slot;

typedef struct si_pool {
    si_pool_spec *spec;
    const char *name;
    apr_pool_t *mem;                /* the child's memory pool: instances are allocated from it */
    int slot_count;
    si_slot *slots;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *freed;       /* signalled when a request ends and someone may wait */
    int waiting;
    unsigned next;                  /* round-robin cursor for ties */
    si_instance *retired;           /* retired instances not yet ended; pool->lock */
    apr_time_t scripts_mtime;       /* newest mtime of the mounted scripts when last loaded */
    apr_uint64_t rejected;          /* 503s for queue-timeout */
    struct si_store *store;         /* mod_subinterp.shared: outlives every instance */
    int starting;                   /* the child's loader has not finished it (si_startup.c):
                                     * with no instance yet, requests wait; lock */
} si_pool;

/* Allocates the pool and its slots; slots take cache indexes from *next_cache_index. */
apr_status_t si_pool_make(apr_pool_t *p, si_pool_spec *spec, unsigned *next_cache_index,
                          si_pool **out);

/* Creates (or, for gil=main, adopts the main interpreter as) a new instance for slot and imports
 * the pool's apps into it.  Called with main_state attached, on a thread that owns it; returns
 * with main_state attached.  NULL if no interpreter could be made (logged). */
si_instance *si_instance_create(si_slot *slot, PyThreadState *main_state, server_rec *s,
                                apr_array_header_t *global_path);

/* The same, leaving the apps of an own-GIL instance to si_instance_load_apps(), so that several
 * instances can import them in parallel (creation itself must stay serial). */
si_instance *si_instance_create_deferred(si_slot *slot, PyThreadState *main_state,
                                         server_rec *s, apr_array_header_t *global_path);

/* Imports a deferred instance's apps on the calling thread, in a state of its own made and
 * deleted here.  The caller holds no thread state. */
void si_instance_load_apps(si_instance *inst, server_rec *s);

/* Ends an instance: reaps every thread state made for it, releases its objects and, unless it is
 * the main interpreter, calls Py_EndInterpreter.  `all`: every state (child exit); otherwise
 * only when no state is still some live thread's binding.  Py_EndInterpreter would abort with
 * an app thread still running in the interpreter (a daemon thread) or join it without a bound,
 * so such an instance is not ended: first its atexit callbacks run (libraries stop their
 * threads there), then it stays parked until its threads end (SI0213).
 * All of it runs on a thread of its own, which the caller waits for within a bound (10 s, or at
 * child exit the grace): app code that blocks there (atexit, __del__) stalls no pool (SI0218).
 * Returns SI_ENDED, SI_NOT_YET (try again later), or at child exit SI_ABANDONED: app threads
 * still ran at grace_until (one deadline for the whole exit), or its ending did not finish, so
 * the interpreter was left as it is (SI0214, SI0218) and Python must not be finalized.  Called
 * with nothing attached. */
typedef enum { SI_NOT_YET, SI_ENDED, SI_ABANDONED } si_end_result;
si_end_result si_instance_end(si_instance *inst, int all, apr_time_t grace_until);

/* Frees every instance that ended and whose ender is done; the rest stay (reachable) to the
 * process's end.  Only once no thread's state cache is left (si_tstate_free_threads). */
void si_instances_free_ended(void);

/* Why mount failed to load in inst, in one line ("" if it did not fail). */
const char *si_instance_failure(si_instance *inst, si_mount_conf *mount);

/* Pins an instance for a helper that will attach to it, so it is not ended meanwhile. */
void si_instance_pin(si_instance *inst);
void si_instance_unpin(si_instance *inst);

/* Keeps why mount i failed to load in inst (shown by SI0302 and the status page); why may be
 * NULL.  Under the GIL, with inst->load_lock held for preload=off imports. */
void si_instance_remember_failure(si_instance *inst, int i, const char *why);

/* Pins the least-busy slot's current instance, waiting up to queue-timeout when every slot is
 * at max-active, or when the pool is starting and no slot has an instance yet (APR_TIMEUP then;
 * APR_ENOENT when no slot has an instance and none is coming).  held_slot and
 * held_inst, when not NULL, are pinned by a request this thread is running, one Apache nested the
 * new request in: they are taken instead of waiting, since only this thread could free them. */
apr_status_t si_pool_acquire(si_pool *pool, si_slot *held_slot, si_instance *held_inst,
                             si_slot **slot, si_instance **inst);
/* 1 when this request was the slot's max-requests-th: the caller wakes maintenance, which
 * builds the replacement while this instance keeps serving. */
int si_pool_release(si_pool *pool, si_slot *slot, si_instance *inst, apr_time_t started);

/* Ends the pool's retired instances that no request pins any more and whose thread states could
 * be reaped (the others are tried again next time).  Only the maintenance thread calls it: it
 * alone unlinks from the retired list.  Called with nothing attached. */
void si_pool_end_retired(si_pool *pool, server_rec *s);

/* cpu-affinity=on: a request's thread runs on its slot's CPU while it holds the slot, so that
 * each own-GIL interpreter's objects stay in one core's cache and a GIL handoff stays on one
 * core (docs/hot-path.md); auto: only while the slot's requests average at least
 * SI_PIN_MIN_CPU_USEC of CPU time attached.  si_slot_pin keeps the thread's previous CPU set in
 * *saved and returns 1 when it pinned; si_slot_unpin restores it.  A CPU that became unavailable
 * (cpuset changed) is not an error: the request runs unpinned. */
typedef struct {
    cpu_set_t cpus;
} si_cpu_set;
int si_slot_pin(si_slot *slot, si_cpu_set *saved);
void si_slot_unpin(const si_cpu_set *saved);
/* cpu-affinity=auto: 1 when this request's CPU time is to be sampled (its start in *start), then
 * si_slot_cpu_sample_end adds it to the slot's average.  Called by the request's thread with
 * the interpreter attached. */
int si_slot_cpu_sample_begin(si_slot *slot, struct timespec *start);
void si_slot_cpu_sample_end(si_slot *slot, const struct timespec *start);
/* auto: whether the slot's requests are pinned now (the status page). */
int si_slot_pins_now(si_slot *slot);

/* Puts fresh into slot and retires the instance it replaces. */
void si_pool_swap(si_slot *slot, si_instance *fresh);

/* The slot's instance now (NULL: none yet, or none could be made). */
si_instance *si_pool_current(si_slot *slot);

/* While a pool is starting, a request that finds no instance waits for one (queue-timeout)
 * instead of failing at once. */
void si_pool_starting(si_pool *pool);
void si_pool_started(si_pool *pool);
int si_pool_is_starting(si_pool *pool);
/* Waits at most `most` for the pool to have started: 1 if it has. */
int si_pool_wait_started(si_pool *pool, apr_interval_time_t most);

/* Puts an instance that never served (a failed reload or replacement that could not be ended
 * yet) on the pool's retired list, to be ended like a replaced one. */
void si_pool_retire(si_pool *pool, si_instance *inst);

/* Newest modification time of the pool's mounted scripts (0 if none could be read). */
apr_time_t si_pool_scripts_mtime(si_pool *pool);

#endif
