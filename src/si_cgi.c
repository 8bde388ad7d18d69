/* si_cgi.c — a request's CGI variables, without Python (see si_cgi.h).
 *
 * Values are the request's bytes as Apache holds them; whoever receives them decides how they
 * become str (si_environ.c: latin-1, PEP 3333 "Unicode Issues").
 */
#include "si_cgi.h"
#include "si_proxy.h"
#include "si_http.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_ssl.h"

const char *const si_cgi_key_text[SI_CGI_KEY_COUNT] = {
    "",
#define SI_CGI_TEXT(field, text) text,
    SI_CGI_KEYS(SI_CGI_TEXT)
#undef SI_CGI_TEXT
};

static int put(si_cgi_sink *sink, si_cgi_key key, const char *value)
{
    return sink->put(sink, SI_CGI_SET, key, si_cgi_key_text[key], strlen(si_cgi_key_text[key]),
                     value, strlen(value));
}

static int put_if(si_cgi_sink *sink, si_cgi_key key, const char *value)
{
    return value ? put(sink, key, value) : 0;
}

static int put_port(si_cgi_sink *sink, si_cgi_key key, unsigned port)
{
    char digits[16];
    apr_snprintf(digits, sizeof(digits), "%u", port);
    return put(sink, key, digits);
}

/* CGI/1.1 (RFC 3875 4.1.18): Header-Name becomes HTTP_HEADER_NAME.  A name with anything but
 * letters, digits and '-' is dropped (si_http_cgi_name), so "X_Forwarded_For" can never pose as
 * "X-Forwarded-For" (the same rule Apache applies for CGI). */
static int put_http_header(si_cgi_sink *sink, apr_pool_t *p, const char *name, const char *value)
{
    size_t len = strlen(name);
    char *key = apr_palloc(p, len + 6);
    size_t key_len = si_http_cgi_name((const unsigned char *)name, len, key);
    if (!key_len)
        return 0;
    return sink->put(sink, SI_CGI_SET, SI_CGI_OTHER, key, key_len, value, strlen(value));
}

static int put_headers(si_cgi_sink *sink, request_rec *r, const si_dir_conf *dir,
                       const si_forwarded *fwd)
{
    int pass_authorization = dir && dir->pass_authorization == 1;
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val)
            continue;
        if (strcasecmp(e[i].key, "Content-Type") == 0) {
            if (put(sink, SI_CGI_CONTENT_TYPE, e[i].val) < 0)
                return -1;
        }
        else if (strcasecmp(e[i].key, "Content-Length") == 0) {
            if (put(sink, SI_CGI_CONTENT_LENGTH, e[i].val) < 0)
                return -1;
        }
        else if ((strcasecmp(e[i].key, "Authorization") == 0
                  || strcasecmp(e[i].key, "Proxy-Authorization") == 0) && !pass_authorization) {
            continue;   /* credentials stay with Apache unless SubinterpPassAuthorization On */
        }
        else if (fwd->active && si_proxy_hides(fwd, dir, e[i].key)) {
            continue;   /* a forwarded header the app must not believe */
        }
        else if (put_http_header(sink, r->pool, e[i].key, e[i].val) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Variables set by SetEnv, mod_setenvif, mod_ssl's exports and the like; our own keys win. */
static int put_subprocess_env(si_cgi_sink *sink, request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val || strncmp(e[i].key, "HTTP_", 5) == 0)
            continue;
        if (sink->put(sink, SI_CGI_SET_IF_ABSENT, SI_CGI_OTHER, e[i].key, strlen(e[i].key),
                      e[i].val, strlen(e[i].val)) < 0)
            return -1;
    }
    return 0;
}

/* What a trusted proxy said overrides what Apache saw (si_proxy.c). */
static int put_forwarded(si_cgi_sink *sink, const si_forwarded *fwd, int *https)
{
    const char *const *v = fwd->value;
    if (put_if(sink, SI_CGI_REMOTE_ADDR, v[SI_FWD_CLIENT]) < 0)
        return -1;
    if (v[SI_FWD_SCHEME]) {
        *https = strcmp(v[SI_FWD_SCHEME], "https") == 0;
        if (put(sink, SI_CGI_REQUEST_SCHEME, v[SI_FWD_SCHEME]) < 0)
            return -1;
        if (*https ? put(sink, SI_CGI_HTTPS, "on") < 0
                   : sink->put(sink, SI_CGI_REMOVE, SI_CGI_HTTPS, "HTTPS", 5, "", 0) < 0)
            return -1;
    }
    if (put_if(sink, SI_CGI_HTTP_HOST, v[SI_FWD_HOST]) < 0
        || put_if(sink, SI_CGI_SERVER_PORT, v[SI_FWD_PORT]) < 0
        || put_if(sink, SI_CGI_SCRIPT_NAME, v[SI_FWD_SCRIPT]) < 0)
        return -1;
    return 0;
}

int si_cgi_vars(request_rec *r, const si_cgi_mapping *map, si_cgi_sink *sink, int *https)
{
    conn_rec *c = r->connection;
    si_dir_conf *dir = ap_get_module_config(r->per_dir_config, &subinterp_module);
    si_forwarded fwd;
    si_proxy_resolve(r, dir, &fwd);
    *https = ap_ssl_conn_is_ssl(c);
    if (put(sink, SI_CGI_REQUEST_METHOD, r->method) < 0
        || put(sink, SI_CGI_SCRIPT_NAME, map->script_name) < 0
        || put(sink, SI_CGI_PATH_INFO, map->path_info) < 0
        || put(sink, SI_CGI_QUERY_STRING, r->args ? r->args : "") < 0
        || put(sink, SI_CGI_REQUEST_URI, r->unparsed_uri) < 0
        || put(sink, SI_CGI_REQUEST_SCHEME, ap_http_scheme(r)) < 0
        || put(sink, SI_CGI_SERVER_NAME, ap_get_server_name_for_url(r)) < 0
        || put_port(sink, SI_CGI_SERVER_PORT, ap_get_server_port(r)) < 0
        || put(sink, SI_CGI_SERVER_PROTOCOL, r->protocol) < 0
        || put(sink, SI_CGI_SERVER_SOFTWARE, ap_get_server_banner()) < 0
        || put(sink, SI_CGI_SERVER_ADDR, c->local_ip) < 0
        || put(sink, SI_CGI_REMOTE_ADDR, r->useragent_ip) < 0
        || put_port(sink, SI_CGI_REMOTE_PORT, c->client_addr->port) < 0
        || put_if(sink, SI_CGI_REMOTE_USER, r->user) < 0
        || put_if(sink, SI_CGI_AUTH_TYPE, r->ap_auth_type) < 0
        || put(sink, SI_CGI_SCRIPT_FILENAME, map->script_filename) < 0
        || put(sink, SI_CGI_DOCUMENT_ROOT, ap_document_root(r)) < 0
        || (*https && put(sink, SI_CGI_HTTPS, "on") < 0)
        || put_headers(sink, r, dir, &fwd) < 0
        || put_subprocess_env(sink, r) < 0
        || (fwd.peer_trusted && put_forwarded(sink, &fwd, https) < 0))
        return -1;
    return 0;
}

/* SCRIPT_NAME is what Apache mapped to the file: the URI less the path_info it found. */
void si_cgi_map(request_rec *r, const si_mount_conf *mount, si_cgi_mapping *out)
{
    if (mount->kind == SI_SCRIPT_MOUNT) {
        out->script_name = mount->url;
        out->path_info = r->uri + strlen(mount->url);
        out->script_filename = mount->script;
        return;
    }
    const char *path_info = r->path_info ? r->path_info : "";
    size_t uri_len = strlen(r->uri), info_len = strlen(path_info);
    out->path_info = path_info;
    out->script_name = info_len <= uri_len && strcmp(r->uri + uri_len - info_len, path_info) == 0
                       ? apr_pstrmemdup(r->pool, r->uri, uri_len - info_len) : r->uri;
    out->script_filename = r->filename;
}

int si_cgi_body_too_large(request_rec *r)
{
    apr_off_t limit = ap_get_limit_req_body(r);
    const char *length = apr_table_get(r->headers_in, "Content-Length");
    if (!limit || !length || apr_table_get(r->headers_in, "Transfer-Encoding"))
        return 0;
    apr_off_t announced = apr_atoi64(length);
    if (announced <= limit)
        return 0;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SI0421: %s: request body of %" APR_OFF_T_FMT
                  " bytes is over LimitRequestBody %" APR_OFF_T_FMT "; answering 413",
                  r->uri, announced, limit);
    return 1;
}

void si_cgi_body_read_failed(request_rec *r, apr_status_t rv, char *msg, apr_size_t size)
{
    if (rv == AP_FILTER_ERROR)
        apr_cpystrn(msg, "refused by Apache (over LimitRequestBody, or malformed)", size);
    else
        apr_strerror(rv, msg, size);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv == AP_FILTER_ERROR ? 0 : rv, r, "SI0420: reading "
                  "the request body of %s failed: %s", r->uri, msg);
}
