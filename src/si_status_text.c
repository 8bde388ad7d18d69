/* si_status_text.c — how the status page writes names (see si_status_text.h). */
#include "si_status_text.h"

const char *si_status_json(apr_pool_t *p, const char *s)
{
    /* Pool names come from the configuration: escape what JSON requires. */
    char *out = apr_palloc(p, strlen(s) * 6 + 3), *o = out;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = *c;
        }
        else if (*c < 0x20) {
            o += sprintf(o, "\\u%04x", *c);
        }
        else {
            *o++ = *c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

const char *si_status_label(apr_pool_t *p, const char *s)
{
    /* Prometheus label values escape backslash, double quote and newline. */
    char *out = apr_palloc(p, strlen(s) * 2 + 1), *o = out;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            *o++ = '\\';
        if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
            continue;
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* Allocates from the page's request memory pool: request threads never allocate from the
 * child's memory pool (two renders at once, or the maintenance thread, would corrupt it). */
const char *si_status_vhost(apr_pool_t *p, const si_pool_spec *spec)
{
    server_rec *s = spec->server;
    if (!s->is_virtual)
        return "main server";
    /* ServerName often has no port; the <VirtualHost> address does. */
    unsigned port = s->port ? s->port : s->addrs ? s->addrs->host_port : 0;
    return apr_psprintf(p, "%s:%u", s->server_hostname, port);
}
