/* si_proxy.h — forwarded headers from trusted proxies (SubinterpTrustedProxies and
 * SubinterpTrustedProxyHeaders).
 *
 * A directory that names trusted headers gets them applied to environ (REMOTE_ADDR,
 * wsgi.url_scheme, HTTP_HOST, SERVER_PORT, SCRIPT_NAME) only when the TCP peer is a trusted
 * proxy, and never lets any other forwarded header reach the app: a client cannot set what the
 * app believes a proxy told it.
 */
#ifndef SI_PROXY_H
#define SI_PROXY_H

#include "si_common.h"
#include "si_config.h"

/* The group of a forwarded header (case-insensitive) and its canonical spelling, or -1. */
int si_proxy_header_group(const char *name, const char **canonical);

/* "X-Forwarded-For, X-Real-IP, ..." for messages. */
const char *si_proxy_known_headers(void);

typedef struct {
    int active;                     /* the directory names trusted headers */
    int peer_trusted;               /* the TCP peer is in SubinterpTrustedProxies */
    const char *value[SI_FWD_GROUPS];  /* what a trusted header says, validated; NULL: nothing */
} si_forwarded;

/* Works out what the request's trusted headers say (logs SI0450 for a value it ignores). */
void si_proxy_resolve(request_rec *r, const si_dir_conf *dir, si_forwarded *out);

/* Whether the request header `name` must be kept from environ. */
int si_proxy_hides(const si_forwarded *fwd, const si_dir_conf *dir, const char *name);

#endif
