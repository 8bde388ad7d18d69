/* si_status.h — what `SetHandler subinterp-status` shows, and our rows in mod_status.
 *
 * A snapshot of this child's pools: per interpreter slot its generation, active and served
 * requests, recycles and average latency; per pool the retired interpreters still ending and
 * the requests refused for queue-timeout; for the child its pid, RSS and uptime.  HTML by
 * default, ?json, or ?prometheus (text exposition format 0.0.4).
 */
#ifndef SI_STATUS_H
#define SI_STATUS_H

#include "si_common.h"

#define SI_STATUS_HANDLER "subinterp-status"

int si_status_handler(request_rec *r);
int si_status_hook(request_rec *r, int flags);

#endif
