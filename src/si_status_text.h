/* si_status_text.h — how the status page writes names from the configuration: as JSON strings,
 * as Prometheus label values, and a pool's virtual host as "name:port". */
#ifndef SI_STATUS_TEXT_H
#define SI_STATUS_TEXT_H

#include "si_common.h"
#include "si_config.h"

/* A quoted JSON string. */
const char *si_status_json(apr_pool_t *p, const char *s);

/* A Prometheus label value, unquoted: backslash, double quote and newline escaped. */
const char *si_status_label(apr_pool_t *p, const char *s);

/* "main server", or the virtual host's name and port.  Allocates from p: request threads never
 * allocate from the child's memory pool (two renders at once, or the maintenance thread,
 * would corrupt it). */
const char *si_status_vhost(apr_pool_t *p, const si_pool_spec *spec);

#endif
