/* si_proxy.c — which forwarded headers to believe, and what they say.
 *
 * De-facto headers, no RFC: X-Forwarded-For lists the client first and each proxy appends the
 * address it received from, so the client is the rightmost address that is not itself a trusted
 * proxy.  Scheme, host, port and prefix lists are read from their last element: the one our
 * trusted peer added (or replaced the list with).  Elements to its left came from further away,
 * possibly from the client itself, which must not choose the scheme or host of links the app
 * builds (password-reset link poisoning).
 */
#include "si_proxy.h"

#include "apr_lib.h"

#include <arpa/inet.h>

/* The headers we understand, written once: the lookup table and the list in error messages. */
#define FORWARDED_HEADERS(X) \
    X("X-Forwarded-For", SI_FWD_CLIENT) \
    X("X-Real-IP", SI_FWD_CLIENT) \
    X("X-Client-IP", SI_FWD_CLIENT) \
    X("X-Forwarded-Proto", SI_FWD_SCHEME) \
    X("X-Forwarded-Scheme", SI_FWD_SCHEME) \
    X("X-Forwarded-HTTPS", SI_FWD_SCHEME) \
    X("X-Forwarded-SSL", SI_FWD_SCHEME) \
    X("X-Forwarded-Host", SI_FWD_HOST) \
    X("X-Host", SI_FWD_HOST) \
    X("X-Forwarded-Port", SI_FWD_PORT) \
    X("X-Script-Name", SI_FWD_SCRIPT) \
    X("X-Forwarded-Prefix", SI_FWD_SCRIPT)

#define TABLE_ROW(name, group) {name, group},
#define LISTED(name, group) ", " name

static const struct {
    const char *name;
    si_forwarded_group group;
} known[] = {FORWARDED_HEADERS(TABLE_ROW)};
#define KNOWN_COUNT (sizeof(known) / sizeof(known[0]))

int si_proxy_header_group(const char *name, const char **canonical)
{
    for (size_t i = 0; i < KNOWN_COUNT; i++)
        if (strcasecmp(name, known[i].name) == 0) {
            if (canonical)
                *canonical = known[i].name;
            return (int)known[i].group;
        }
    return -1;
}

const char *si_proxy_known_headers(void)
{
    static const char listed[] = FORWARDED_HEADERS(LISTED);
    return listed + 2;   /* past the leading ", " */
}

static int in_subnets(const apr_array_header_t *subnets, apr_sockaddr_t *address)
{
    for (int i = 0; subnets && i < subnets->nelts; i++)
        if (apr_ipsubnet_test(APR_ARRAY_IDX(subnets, i, apr_ipsubnet_t *), address))
            return 1;
    return 0;
}

/* A numeric IPv4 or IPv6 address, or NULL: host names are never looked up. */
static apr_sockaddr_t *numeric_address(apr_pool_t *p, const char *text)
{
    unsigned char buf[sizeof(struct in6_addr)];
    int family = inet_pton(AF_INET, text, buf) == 1 ? APR_INET
                 : inet_pton(AF_INET6, text, buf) == 1 ? APR_INET6 : -1;
    apr_sockaddr_t *address;
    if (family < 0 || apr_sockaddr_info_get(&address, text, family, 0, 0, p) != APR_SUCCESS)
        return NULL;
    return address;
}

static char *trimmed(apr_pool_t *p, const char *start, const char *end)
{
    while (start < end && apr_isspace(*start))
        start++;
    while (end > start && apr_isspace(end[-1]))
        end--;
    return apr_pstrmemdup(p, start, end - start);
}

static char *last_element(apr_pool_t *p, const char *list)
{
    const char *comma = strrchr(list, ',');
    return trimmed(p, comma ? comma + 1 : list, list + strlen(list));
}

/* X-Forwarded-For: walk back from the peer while each hop is a trusted proxy. */
static const char *client_address(request_rec *r, const si_dir_conf *dir, const char *list)
{
    const char *end = list + strlen(list), *client = NULL;
    while (end > list) {
        const char *comma = end;
        while (comma > list && comma[-1] != ',')
            comma--;
        char *hop = trimmed(r->pool, comma, end);
        apr_sockaddr_t *address = numeric_address(r->pool, hop);
        if (!address)
            return NULL;   /* the whole header is suspect */
        client = hop;
        if (!in_subnets(dir->trusted_proxies, address))
            break;
        end = comma > list ? comma - 1 : list;
    }
    return client;
}

static const char *scheme_of(apr_pool_t *p, const char *header, const char *value)
{
    char *word = last_element(p, value);
    if (strcasecmp(header, "X-Forwarded-Proto") == 0
        || strcasecmp(header, "X-Forwarded-Scheme") == 0)
        return strcasecmp(word, "https") == 0 ? "https"
               : strcasecmp(word, "http") == 0 ? "http" : NULL;
    /* X-Forwarded-HTTPS, X-Forwarded-SSL: a flag */
    if (!strcasecmp(word, "on") || !strcasecmp(word, "1") || !strcasecmp(word, "true")
        || !strcasecmp(word, "yes"))
        return "https";
    if (!strcasecmp(word, "off") || !strcasecmp(word, "0") || !strcasecmp(word, "false")
        || !strcasecmp(word, "no"))
        return "http";
    return NULL;
}

static const char *host_of(apr_pool_t *p, const char *value)
{
    char *host = last_element(p, value);
    if (!*host || strlen(host) > 255)
        return NULL;
    for (const char *c = host; *c; c++)
        if (!apr_isalnum(*c) && !strchr(".-:[]_", *c))
            return NULL;
    return host;
}

static const char *port_of(apr_pool_t *p, const char *value)
{
    char *port = last_element(p, value), *end;
    long n = strtol(port, &end, 10);
    return *port && !*end && apr_isdigit(*port) && n >= 1 && n <= 65535
           ? apr_ltoa(p, n) : NULL;
}

static const char *script_name_of(apr_pool_t *p, const char *value)
{
    char *path = trimmed(p, value, value + strlen(value));
    if (path[0] != '/')
        return NULL;
    for (const char *c = path; *c; c++)
        if (apr_iscntrl(*c) || *c == ' ' || *c == '?' || *c == '#')
            return NULL;
    for (size_t len = strlen(path); len > 0 && path[len - 1] == '/'; len--)
        path[len - 1] = '\0';
    return path;
}

void si_proxy_resolve(request_rec *r, const si_dir_conf *dir, si_forwarded *out)
{
    memset(out, 0, sizeof(*out));
    if (!dir || !dir->trusted_headers || dir->trusted_headers->nelts == 0)
        return;
    out->active = 1;
    out->peer_trusted = in_subnets(dir->trusted_proxies, r->connection->client_addr);
    if (!out->peer_trusted)
        return;
    for (int i = 0; i < dir->trusted_headers->nelts; i++) {
        const char *header = APR_ARRAY_IDX(dir->trusted_headers, i, const char *);
        int group = si_proxy_header_group(header, NULL);
        const char *raw = apr_table_get(r->headers_in, header), *value = NULL;
        if (!raw || out->value[group])
            continue;   /* absent, or an earlier trusted header of the group answered */
        switch ((si_forwarded_group)group) {
        case SI_FWD_CLIENT:
            value = strcasecmp(header, "X-Forwarded-For") == 0
                    ? client_address(r, dir, raw)
                    : numeric_address(r->pool, last_element(r->pool, raw))
                      ? last_element(r->pool, raw) : NULL;
            break;
        case SI_FWD_SCHEME:
            value = scheme_of(r->pool, header, raw);
            break;
        case SI_FWD_HOST:
            value = host_of(r->pool, raw);
            break;
        case SI_FWD_PORT:
            value = port_of(r->pool, raw);
            break;
        case SI_FWD_SCRIPT:
            value = script_name_of(r->pool, raw);
            break;
        case SI_FWD_GROUPS:
            break;
        }
        if (value)
            out->value[group] = value;
        else
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "SI0450: trusted proxy %s sent "
                          "%s: '%s', which is not valid; ignored", r->connection->client_ip,
                          header, raw);
    }
}

int si_proxy_hides(const si_forwarded *fwd, const si_dir_conf *dir, const char *name)
{
    if (!fwd->active || si_proxy_header_group(name, NULL) < 0)
        return 0;
    if (!fwd->peer_trusted)
        return 1;
    for (int i = 0; i < dir->trusted_headers->nelts; i++)
        if (strcasecmp(APR_ARRAY_IDX(dir->trusted_headers, i, const char *), name) == 0)
            return 0;
    return 1;
}
