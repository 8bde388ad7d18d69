/* si_procserve.h — one process of a process pool: Python, its pool, and the requests that
 * Apache's children forward to it (si_wire.h).
 *
 * Forked from Apache's parent (si_procpool.c), it drops to the pool's user and group, starts
 * Python and loads its one pool exactly as a child loads in-child pools (si_runtime.c), and
 * runs `threads=` threads that each take a connection off the pool's socket.  A request is
 * served by the same code as in a child (si_request.c and the WSGI objects below it): it gets a
 * request record whose input and output filters are the wire, so an app cannot tell the two
 * hosts apart.
 */
#ifndef SI_PROCSERVE_H
#define SI_PROCSERVE_H

#include "si_common.h"
#include "si_config.h"

/* The wire's filters, registered with Apache's hooks. */
void si_procserve_register(apr_pool_t *p);

/* Never returns.  s: the main server; delay: the restart backoff, waited out first. */
void si_procserve_main(apr_pool_t *pconf, server_rec *s, si_pool_spec *spec, int index,
                       int listen_fd, apr_interval_time_t delay);

#endif
