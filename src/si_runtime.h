/* si_runtime.h — the embedded Python of one Apache child: start in child_init, stop at exit.
 *
 * The parent never initializes Python.  Each child initializes it (isolated PyConfig, no signal
 * handlers), creates every pool's interpreters and imports their apps before serving.  When the
 * child's memory pool is destroyed (after the MPM joined its worker threads) every thread state is
 * deleted, every sub-interpreter ended, then Python finalized.
 */
#ifndef SI_RUNTIME_H
#define SI_RUNTIME_H

#include "si_common.h"

void si_runtime_child_init(apr_pool_t *pchild, server_rec *s);

/* In a start-up probe process (si_probe.c): starts Python as a child would and imports conf's
 * scripts into one interpreter, writing what it does to report_fd.  0 if it got through. */
struct si_pool_spec;
int si_runtime_probe(apr_pool_t *p, server_rec *s, struct si_pool_spec *spec, int report_fd);

/* This child's running pool for spec, or NULL when Python does not run here (failed to start, or
 * stopped at child exit). */
struct si_pool *si_runtime_pool(const struct si_pool_spec *spec);

/* This child's pools (si_pool *), or NULL when Python does not run here. */
apr_array_header_t *si_runtime_pools(void);

/* When this child started Python. */
apr_time_t si_runtime_started(void);

#endif
