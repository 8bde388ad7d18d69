/* si_status_procs.h — process pools on the status page: each pool's processes as the shared
 * stats segment holds them (pid, state, restarts, requests, active), whichever child renders
 * the page, since no child runs them. */
#ifndef SI_STATUS_PROCS_H
#define SI_STATUS_PROCS_H

#include "si_common.h"

/* ", \"process_pools\": [...]" inside the JSON page's top-level object. */
void si_status_procs_json(request_rec *r);
void si_status_procs_prometheus(request_rec *r);
void si_status_procs_html(request_rec *r);

#endif
