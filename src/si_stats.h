/* si_stats.h — server-wide counters and loading marks per pool, in shared memory.
 *
 * The status page of one child used to describe that child only.  These counters live in an
 * anonymous shared segment the parent makes in post_config, before it forks: every child adds
 * to them with atomic operations, and any child reports them all.  They start from zero at each
 * start or restart (Prometheus counters may reset).
 *
 * The same row says which children are loading the pool at start-up now, so that children
 * which die while loading it (an import that crashes the process, whatever the start-up
 * probe's cache said) are noticed by the children the parent starts after them, which then
 * leave the pool alone: a crash loop that would take every virtual host down becomes a couple
 * of crashes and one failed pool, until the next restart (a new segment) tries again.
 *
 * A process pool's processes also keep their state there, and take turns at recycling.
 */
#ifndef SI_STATS_H
#define SI_STATS_H

#include "si_common.h"
#include "si_config.h"

#include <stdatomic.h>

typedef enum {
    SI_STAT_RESPONSES_2XX = 0,
    SI_STAT_RESPONSES_3XX,
    SI_STAT_RESPONSES_4XX,
    SI_STAT_RESPONSES_5XX,
    SI_STAT_TIMEOUTS,        /* 504 after request-timeout */
    SI_STAT_REJECTED,        /* 503 after queue-timeout */
    SI_STAT_EXCEPTIONS,      /* the app raised (SI0401) */
    SI_STAT_RECYCLES,
    SI_STAT_RELOADS,
    SI_STAT_COUNT
} si_stat;

/* In the parent's post_config (not the dry run): one row of counters per pool.  A failure is
 * logged; the counters then stay zero. */
void si_stats_create(apr_pool_t *pconf, server_rec *s);

void si_stats_add(const si_pool_spec *spec, si_stat which);

/* Counts a response by its status class. */
void si_stats_response(const si_pool_spec *spec, int status);

apr_uint64_t si_stats_get(const si_pool_spec *spec, si_stat which);

/* Marks (on=1) or unmarks this process as loading the pool's apps (the child's start-up loader,
 * si_startup.c, around each pool it builds; maintenance's rebuilds are not marked). */
void si_stats_loading(const si_pool_spec *spec, int on);

/* What the marks of processes that are gone say about the pool, for this generation:
 * GUILTY: two died while each was loading this pool and no other (a crashing import crashes
 * every time; a child may also die once of something else while it loads); SUSPECT: one
 * died while it was loading it (a child then loads the suspects one by one, each on its own,
 * so that the next death names one); CLEAR otherwise.  *who: a dead process. */
typedef enum { SI_LOAD_CLEAR = 0, SI_LOAD_SUSPECT, SI_LOAD_GUILTY } si_load_verdict;
si_load_verdict si_stats_load_verdict(const si_pool_spec *spec, pid_t *who);

/* A pool that loaded completely: the dead processes' marks on it are dropped. */
void si_stats_acquit(const si_pool_spec *spec);

/* In a process that must not mark anything (the start-up probe). */
void si_stats_forget(void);

/* One process of a process pool, as its supervisor (si_procpool.c) and the process itself
 * (si_procserve.c) keep it, for the status page of any child. */
typedef enum {
    SI_PROC_DOWN = 0,        /* not running: waiting out its restart backoff */
    SI_PROC_STARTING,        /* forked; Python and the apps are loading */
    SI_PROC_READY,           /* taking requests */
    SI_PROC_STOPPING,        /* finishing its requests before it exits (stopped) */
    SI_PROC_RECYCLING        /* the same after max-requests: its successor starts at once */
} si_proc_state;

typedef struct {
    _Atomic pid_t pid;
    _Atomic int state;               /* si_proc_state */
    _Atomic apr_uint32_t restarts;   /* deaths the supervisor replaced it after */
    _Atomic apr_uint64_t requests;   /* served by this slot's processes, all of them */
    _Atomic apr_uint32_t active;     /* requests it runs now */
    _Atomic apr_time_t started;
    char failure[240];               /* why its pool failed to load there, or "": written by
                                      * the process before it stores state READY */
} si_stats_proc;

/* Process `index` of a process pool, or NULL (no segment, or not a process pool). */
si_stats_proc *si_stats_process(const si_pool_spec *spec, int index);

/* A process pool's processes serve equal shares, so with max-requests they would all be due,
 * and all be down while their successors start, at the same moment.  They take turns instead:
 * a process that is due takes its pool's turn (1: it may go, and holds the turn) or serves on
 * (0, *holder: the index of the process whose successor is starting).  The successor gives the
 * turn back once it serves with its apps loaded.  Without the segment every process may go. */
int si_stats_recycle_turn_take(const si_pool_spec *spec, int index, int *holder);
void si_stats_recycle_turn_give(const si_pool_spec *spec, int index);

#endif
