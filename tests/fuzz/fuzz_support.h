/* fuzz_support.h — what the fuzz targets share: the module symbol and log stand-in that our
 * sources need outside Apache, the promise check, and a request as Apache's parser leaves it. */
#ifndef FUZZ_SUPPORT_H
#define FUZZ_SUPPORT_H

#include "si_common.h"

#include <stdio.h>
#include <stdlib.h>

module AP_MODULE_DECLARE_DATA subinterp_module;

/* Outside Apache, log lines go nowhere (SI0450 is expected for most inputs). */
void ap_log_rerror_(const char *file, int line, int index, int level, apr_status_t status,
                    const request_rec *r, const char *fmt, ...)
{
    (void)file; (void)line; (void)index; (void)level; (void)status; (void)r; (void)fmt;
}

#define REQUIRE(cond) do { if (!(cond)) { fprintf(stderr, "broken promise: %s\n", #cond); \
                                           abort(); } } while (0)

/* A request from 127.0.0.1 (a trusted proxy in both targets) or from 192.0.2.1. */
static request_rec *fuzz_request_from(apr_pool_t *p, int trusted_peer)
{
    request_rec *r = apr_pcalloc(p, sizeof(*r));
    conn_rec *c = apr_pcalloc(p, sizeof(*c));
    r->pool = p;
    r->connection = c;
    r->headers_in = apr_table_make(p, 8);
    r->subprocess_env = apr_table_make(p, 2);
    c->client_ip = trusted_peer ? "127.0.0.1" : "192.0.2.1";
    c->local_ip = "127.0.0.1";
    apr_sockaddr_info_get(&c->client_addr, c->client_ip, APR_INET, 0, 0, p);
    r->useragent_ip = (char *)c->client_ip;
    return r;
}

#endif
