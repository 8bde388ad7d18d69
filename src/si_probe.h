/* si_probe.h — each pool's start-up imports tried in a throwaway process before any child loads
 * them (see si_probe.c for the why). */
#ifndef SI_PROBE_H
#define SI_PROBE_H

#include "si_common.h"
#include "si_config.h"

/* In the parent's post_config (not the dry run): probes every pool with scripts, in parallel,
 * and sets probe_failure on those whose probe died by a signal (SI0305). */
void si_probe_pools(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* In check_config (apachectl -t too): every script of every pool must be readable by the user
 * Apache's children run as; tried as that user (in a forked process when we are root), so
 * ACLs and supplementary groups count.  Logs SI0116 for each one that is not. */
apr_status_t si_probe_scripts_readable(apr_pool_t *ptemp, server_rec *s);

#endif
