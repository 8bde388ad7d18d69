/* si_startup.h — a child's pools load on a thread of their own.
 *
 * Apache's child accepts no connection until child_init returns, so loading every pool there
 * stalled every virtual host (static files too) for the slowest import at each graceful restart,
 * which Debian's logrotate makes nightly.  The loader thread builds each pool's first
 * interpreter, for every pool, before any second one, and installs each as soon as its apps are
 * imported.  Until a pool's first interpreter is in, its requests wait (queue-timeout, then 503,
 * SI0504); nothing else waits.  SI0200 says when all are done.
 */
#ifndef SI_STARTUP_H
#define SI_STARTUP_H

#include "si_common.h"

/* Starts the loader for pools (each marked starting), with the main interpreter's GIL free.
 * slots: how many interpreters in all; started: when the child began (for SI0200).  Joined
 * by a pre-cleanup of pchild, before the runtime stops. */
void si_startup_begin(apr_pool_t *pchild, server_rec *s, apr_array_header_t *pools,
                      apr_array_header_t *global_path, unsigned slots, apr_time_t started);

#endif
