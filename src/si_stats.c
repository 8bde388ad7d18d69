/* si_stats.c — server-wide counters and loading marks per pool in shared memory (see si_stats.h). */
#include "si_stats.h"

#include "apr_shm.h"

#include <errno.h>
#include <signal.h>

#define SI_LOADERS 16   /* children loading one pool at once (more go unmarked) */

typedef struct {
    _Atomic apr_uint64_t value[SI_STAT_COUNT];
    /* Processes loading the pool: 0 is free.  A process that dies leaves its pid for the rest
     * of the generation, which is how the next children learn of it. */
    _Atomic pid_t loader[SI_LOADERS];
    /* A process pool's recycle turn: 1 + the index of the process being replaced, or 0. */
    _Atomic int recycling;
} si_stats_row;

/* Set in the parent before the children fork, so every child maps the same segment. */
static si_stats_row *rows;
static int row_count;
static si_stats_proc *procs;      /* after the rows: each process pool's processes in turn */
static int *proc_base;            /* by ordinal: its first process's index in procs, or -1 */

void si_stats_create(apr_pool_t *pconf, server_rec *s)
{
    apr_array_header_t *specs = si_config_pool_specs(pconf, s);
    rows = NULL;
    row_count = 0;
    procs = NULL;
    proc_base = apr_palloc(pconf, (specs->nelts + 1) * sizeof(int));
    if (specs->nelts == 0)
        return;
    int proc_count = 0;
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        proc_base[i] = spec->processes ? proc_count : -1;
        proc_count += spec->processes;
    }
    apr_shm_t *shm;
    apr_size_t size = specs->nelts * sizeof(si_stats_row) + proc_count * sizeof(si_stats_proc);
    /* Anonymous: inherited across fork, gone with the last process that maps it; the parent's
     * mapping goes with pconf at the next restart. */
    apr_status_t rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "SI0115: no shared memory for the "
                     "server-wide counters; the status page shows this child's figures only");
        return;
    }
    rows = apr_shm_baseaddr_get(shm);
    memset(rows, 0, size);
    row_count = specs->nelts;   /* a pool's row is its ordinal (si_config_resolve) */
    procs = (si_stats_proc *)(rows + row_count);
}

si_stats_proc *si_stats_process(const si_pool_spec *spec, int index)
{
    if (!procs || spec->ordinal < 0 || spec->ordinal >= row_count
        || proc_base[spec->ordinal] < 0 || index < 0 || index >= spec->processes)
        return NULL;
    return &procs[proc_base[spec->ordinal] + index];
}

static si_stats_row *row_of(const si_pool_spec *spec)
{
    return rows && spec->ordinal >= 0 && spec->ordinal < row_count ? &rows[spec->ordinal]
                                                                   : NULL;
}

void si_stats_add(const si_pool_spec *spec, si_stat which)
{
    si_stats_row *row = row_of(spec);
    if (row)
        atomic_fetch_add_explicit(&row->value[which], 1, memory_order_relaxed);
}

void si_stats_response(const si_pool_spec *spec, int status)
{
    if (status >= 200 && status < 600)
        si_stats_add(spec, (si_stat)(SI_STAT_RESPONSES_2XX + status / 100 - 2));
}

apr_uint64_t si_stats_get(const si_pool_spec *spec, si_stat which)
{
    si_stats_row *row = row_of(spec);
    return row ? atomic_load_explicit(&row->value[which], memory_order_relaxed) : 0;
}

void si_stats_loading(const si_pool_spec *spec, int on)
{
    si_stats_row *row = row_of(spec);
    pid_t self = getpid();
    for (int i = 0; row && i < SI_LOADERS; i++) {
        pid_t expected = on ? 0 : self;
        if (atomic_compare_exchange_strong(&row->loader[i], &expected, on ? self : 0) && on)
            return;
    }
}

int si_stats_recycle_turn_take(const si_pool_spec *spec, int index, int *holder)
{
    si_stats_row *row = row_of(spec);
    int expected = 0;
    if (!row || atomic_compare_exchange_strong(&row->recycling, &expected, index + 1)
        || expected == index + 1)   /* another of this process's workers took it */
        return 1;
    *holder = expected - 1;
    return 0;
}

void si_stats_recycle_turn_give(const si_pool_spec *spec, int index)
{
    si_stats_row *row = row_of(spec);
    int expected = index + 1;
    if (row)
        atomic_compare_exchange_strong(&row->recycling, &expected, 0);
}

void si_stats_forget(void)
{
    rows = NULL;
    row_count = 0;
    procs = NULL;
}

/* Children run as one user, so only a pid that no longer exists answers ESRCH (the parent reaps
 * a dead child before it starts the next). */
static int gone(pid_t pid)
{
    return pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
}

static int rows_marked_by(pid_t pid)
{
    int n = 0;
    for (int r = 0; r < row_count; r++)
        for (int i = 0; i < SI_LOADERS; i++)
            if (atomic_load(&rows[r].loader[i]) == pid) {
                n++;
                break;
            }
    return n;
}

si_load_verdict si_stats_load_verdict(const si_pool_spec *spec, pid_t *who)
{
    si_stats_row *row = row_of(spec);
    int dead = 0, dead_alone = 0;
    for (int i = 0; row && i < SI_LOADERS; i++) {
        pid_t pid = atomic_load(&row->loader[i]);
        if (!gone(pid))
            continue;
        *who = pid;
        dead++;
        dead_alone += rows_marked_by(pid) == 1;
    }
    /* Two: a child may also die of something else (a request's segfault) while its loader is
     * busy, and that must not shut a pool out; an import that crashes does so every time. */
    return dead_alone >= 2 ? SI_LOAD_GUILTY : dead ? SI_LOAD_SUSPECT : SI_LOAD_CLEAR;
}

void si_stats_acquit(const si_pool_spec *spec)
{
    si_stats_row *row = row_of(spec);
    for (int i = 0; row && i < SI_LOADERS; i++) {
        pid_t pid = atomic_load(&row->loader[i]);
        if (gone(pid))
            atomic_compare_exchange_strong(&row->loader[i], &pid, 0);
    }
}
