/* fuzz_request.c — libFuzzer target for the C code that judges request and response data
 * (`make fuzz`): the response status and header rules of start_response (si_http.c), the
 * request-header-to-CGI-name conversion environ uses (si_http_cgi_name), and the trusted-proxy
 * resolution that turns forwarded headers into REMOTE_ADDR, the scheme, host, port and
 * SCRIPT_NAME (si_proxy.c).
 *
 * Input: byte 0 picks the directory's trusted headers (bits 0-4), whether the peer is a trusted
 * proxy (bit 5) and the trusted ranges (bits 6-7); the rest is lines: the first is a status
 * line, each other one "Name:value", used both as a request header and as a response header.
 * Besides crashes and sanitizer reports, the target aborts when an answer breaks the promise the
 * code makes (a CGI name with a character outside [A-Z0-9_], a forwarded port out of range...).
 */
#include "si_proxy.h"
#include "si_http.h"

#include "apr_lib.h"

#include "fuzz_support.h"

#include <arpa/inet.h>

static apr_pool_t *root;

static const char *const trusted_sets[5][2] = {
    {"X-Forwarded-For", "X-Real-IP"}, {"X-Forwarded-Proto", "X-Forwarded-SSL"},
    {"X-Forwarded-Host", "X-Host"}, {"X-Forwarded-Port", NULL},
    {"X-Script-Name", "X-Forwarded-Prefix"},
};
static const char *const ranges[4] = {"127.0.0.1", "10.0.0.0/8", "::1", "0.0.0.0/0"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_response_rules(const unsigned char *name, size_t n, const unsigned char *value,
                                  size_t len)
{
    if (si_http_is_token(name, n))
        for (size_t i = 0; i < n; i++)
            REQUIRE(name[i] > 0x20 && name[i] < 0x7f && name[i] != ':');
    if (si_http_is_field_value(value, len))
        for (size_t i = 0; i < len; i++)
            REQUIRE(value[i] != '\r' && value[i] != '\n' && value[i] != 0);
    if (si_http_is_content_length(value, len))
        REQUIRE(len >= 1 && len <= 18);
    (void)si_http_is_hop_by_hop(name, n);
    char *key = malloc(n + 6);
    size_t k = si_http_cgi_name(name, n, key);
    if (k) {
        REQUIRE(k == n + 5 && memcmp(key, "HTTP_", 5) == 0);
        for (size_t i = 0; i < k; i++)
            REQUIRE((key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9')
                    || key[i] == '_');
    }
    free(key);
}

static void check_forwarded(const si_forwarded *fwd)
{
    unsigned char buf[16];
    const char *v;
    if ((v = fwd->value[SI_FWD_CLIENT]))
        REQUIRE(inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1);
    if ((v = fwd->value[SI_FWD_SCHEME]))
        REQUIRE(strcmp(v, "http") == 0 || strcmp(v, "https") == 0);
    if ((v = fwd->value[SI_FWD_PORT])) {
        long port = strtol(v, NULL, 10);
        REQUIRE(port >= 1 && port <= 65535);
    }
    if ((v = fwd->value[SI_FWD_HOST])) {
        REQUIRE(*v && strlen(v) <= 255);
        for (; *v; v++)
            REQUIRE(apr_isalnum(*v) || strchr(".-:[]_", *v));
    }
    if ((v = fwd->value[SI_FWD_SCRIPT])) {
        REQUIRE(v[0] == '/' || v[0] == '\0');
        for (; *v; v++)
            REQUIRE((unsigned char)*v > 0x20 && *v != 0x7f && *v != '?' && *v != '#');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    apr_pool_t *p;
    apr_pool_create(&p, root);
    unsigned flags = data[0];
    const unsigned char *text = data + 1, *end = data + size;

    request_rec *r = fuzz_request_from(p, flags & 0x20);

    si_dir_conf dir = {.pass_authorization = -1};
    dir.trusted_headers = apr_array_make(p, 8, sizeof(const char *));
    for (int i = 0; i < 5; i++)
        if (flags & (1u << i))
            for (int k = 0; k < 2 && trusted_sets[i][k]; k++)
                APR_ARRAY_PUSH(dir.trusted_headers, const char *) = trusted_sets[i][k];
    dir.trusted_proxies = apr_array_make(p, 2, sizeof(apr_ipsubnet_t *));
    for (int i = 0; i < 2; i++) {
        const char *range = ranges[((flags >> 6) + i) & 3];
        char *address = apr_pstrdup(p, range), *mask = strchr(address, '/');
        if (mask)
            *mask++ = '\0';
        apr_ipsubnet_t *subnet;
        if (apr_ipsubnet_create(&subnet, address, mask, p) == APR_SUCCESS)
            APR_ARRAY_PUSH(dir.trusted_proxies, apr_ipsubnet_t *) = subnet;
    }

    int first = 1;
    while (text < end) {
        const unsigned char *nl = memchr(text, '\n', end - text);
        const unsigned char *line_end = nl ? nl : end;
        size_t len = line_end - text;
        if (first) {
            if (si_http_is_status_line(text, len))
                REQUIRE(text[0] >= '1' && text[0] <= '5' && text[3] == ' ');
            first = 0;
        }
        else {
            const unsigned char *colon = memchr(text, ':', len);
            if (colon) {
                size_t n = colon - text;
                check_response_rules(text, n, colon + 1, line_end - colon - 1);
                /* Apache's request parser never hands over a name or value with NUL in it. */
                char *name = apr_pstrmemdup(p, (const char *)text, n);
                char *value = apr_pstrmemdup(p, (const char *)colon + 1, line_end - colon - 1);
                if (strlen(name) == n && *name)
                    apr_table_add(r->headers_in, name, value);
            }
        }
        text = nl ? nl + 1 : end;
    }

    si_forwarded fwd;
    si_proxy_resolve(r, &dir, &fwd);
    check_forwarded(&fwd);
    if (!(flags & 0x20) && !fwd.peer_trusted)
        for (int g = 0; g < SI_FWD_GROUPS; g++)
            REQUIRE(fwd.value[g] == NULL);
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        int hidden = si_proxy_hides(&fwd, &dir, e[i].key);
        if (dir.trusted_headers->nelts && !fwd.peer_trusted
            && si_proxy_header_group(e[i].key, NULL) >= 0)
            REQUIRE(hidden);
    }
    apr_pool_destroy(p);
    return 0;
}
