/* si_stats.h — server-wide counters per pool, in shared memory.
 *
 * The status page of one child used to describe that child only.  These counters live in an
 * anonymous shared segment the parent makes in post_config, before it forks: every child adds
 * to them with atomic operations, and any child reports them all.  They start from zero at each
 * start or restart (Prometheus counters may reset).
 */
#ifndef SI_STATS_H
#define SI_STATS_H

#include "si_common.h"
#include "si_config.h"

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

#endif
