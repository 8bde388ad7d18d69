/* si_procpool.h — process pools' processes, started and supervised by Apache's parent.
 *
 * A pool with processes=N never runs in Apache's children.  In post_config the parent makes the
 * pool's listening socket (a Unix domain socket in DefaultRuntimeDir, which only Apache's child
 * user may connect to) and forks N processes that serve it (si_procserve.c).  The parent keeps
 * the socket open, so connections wait in its backlog while a process restarts.  A process that
 * dies is replaced, at once the first time and then with a backoff; one that exits after
 * max-requests is replaced at once (the processes take turns to: si_stats.h).  While there are
 * process pools the parent catches SIGCHLD, so that it reaps, and forks the successor, at once.
 * At a restart the old processes keep serving the old generation's children on the old socket
 * until they have been idle a while, then exit.
 */
#ifndef SI_PROCPOOL_H
#define SI_PROCPOOL_H

#include "si_common.h"
#include "si_config.h"

/* In the parent's post_config (not the dry run): sockets and processes for every process pool.
 * A pool that cannot have them gets spec->unavailable (logged), and its requests a 503. */
void si_procpool_start(apr_pool_t *pconf, server_rec *s);

/* The parent's monitor hook: restarts that waited out their backoff, and the sockets of the
 * old generations' processes once those are gone. */
int si_procpool_monitor(apr_pool_t *p, server_rec *s);

/* In Apache's children: SIGCHLD as it was before the parent began to take it for the process
 * pools (the parent's handler only shortens its waits between reaps). */
void si_procpool_child_init(void);

#endif
