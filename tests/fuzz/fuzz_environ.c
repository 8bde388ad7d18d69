/* fuzz_environ.c — libFuzzer target for environ construction (`make fuzz`): the real
 * si_environ_build() turning a request Apache has parsed (method, path, query, headers, user,
 * peer address) into the Python dict an app gets, trusted-proxy rules included.
 *
 * Input: byte 0 picks the trusted headers (bits 0-4), a trusted peer (bit 5) and
 * SubinterpPassAuthorization (bit 6); then lines: method, URI path, query, user, then
 * "Name:value" request headers.  Apache's parser never hands over NUL, so none is passed on.
 * The target aborts when the environ breaks a promise: a header key other than HTTP_[A-Z0-9_]+,
 * a value that does not give back the request's bytes as latin-1, a forwarded header of an
 * untrusted peer, credentials without SubinterpPassAuthorization, a WSGI key missing.
 */
#include "si_environ.h"
#include "si_pool.h"
#include "si_proxy.h"
#include "si_http.h"

#include "fuzz_support.h"

/* What si_environ.c asks of Apache, answered as a fixed server would. */
const char *ap_get_server_banner(void) { return "Apache/2.4 (fuzz)"; }
const char *ap_get_server_name_for_url(request_rec *r) { (void)r; return "fuzz.test"; }
apr_port_t ap_get_server_port(const request_rec *r) { (void)r; return 8080; }
const char *ap_document_root(request_rec *r) { (void)r; return "/srv/www"; }
const char *ap_run_http_scheme(const request_rec *r) { (void)r; return "http"; }
int ap_ssl_conn_is_ssl(conn_rec *c) { (void)c; return 0; }
/* si_cgi.c's LimitRequestBody check, which the target does not reach. */
apr_off_t ap_get_limit_req_body(const request_rec *r) { (void)r; return 0; }

static apr_pool_t *root;
static si_module_state st;
static si_slot slot;
static si_instance instance;
static const char *const trusted_sets[5] = {"X-Forwarded-For", "X-Forwarded-Proto",
                                            "X-Forwarded-Host", "X-Forwarded-Port",
                                            "X-Script-Name"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    if (PyStatus_Exception(Py_InitializeFromConfig(&config)))
        abort();
    PyConfig_Clear(&config);
    /* The module state si_module.c makes per interpreter: its interned keys and shared values. */
#define SI_INTERN_KEY(field, text) st.field = PyUnicode_InternFromString(text);
    SI_ENVIRON_KEYS(SI_INTERN_KEY)
#undef SI_INTERN_KEY
    st.wsgi_version_value = Py_BuildValue("(ii)", 1, 0);
    st.version_value = PyUnicode_FromString(SI_VERSION);
    st.file_wrapper_type = &PyBaseObject_Type;
    instance.pool_name = PyUnicode_FromString("fuzz");
    instance.slot = &slot;
    subinterp_module.module_index = 0;
    return 0;
}

static char *next_line(apr_pool_t *p, const unsigned char **text, const unsigned char *end)
{
    const unsigned char *nl = memchr(*text, '\n', end - *text), *stop = nl ? nl : end;
    char *line = apr_pstrmemdup(p, (const char *)*text, stop - *text);
    *text = nl ? nl + 1 : end;
    line[strlen(line)] = '\0';
    return line;   /* cut at the first NUL, as Apache's parser would refuse it */
}

static int all_latin1_bytes(PyObject *value, const char *expected)
{
    if (!PyUnicode_Check(value))
        return 0;
    PyObject *bytes = PyUnicode_AsLatin1String(value);
    int same = bytes && strcmp(PyBytes_AS_STRING(bytes), expected) == 0;
    Py_XDECREF(bytes);
    return same;
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
    conn_rec *c = r->connection;
    r->protocol = "HTTP/1.1";
    r->method = next_line(p, &text, end);
    char *path = next_line(p, &text, end);
    r->uri = apr_pstrcat(p, "/app", path[0] == '/' ? "" : "/", path, NULL);
    r->args = next_line(p, &text, end);
    r->unparsed_uri = apr_pstrcat(p, r->uri, "?", r->args, NULL);
    char *user = next_line(p, &text, end);
    r->user = *user ? user : NULL;
    while (text < end) {
        char *line = next_line(p, &text, end), *colon = strchr(line, ':');
        if (colon && colon != line) {
            *colon = '\0';
            apr_table_merge(r->headers_in, line, colon + 1);   /* as Apache's parser does */
        }
    }

    si_dir_conf dir = {.pass_authorization = (flags & 0x40) ? 1 : 0};
    dir.trusted_headers = apr_array_make(p, 8, sizeof(const char *));
    for (int i = 0; i < 5; i++)
        if (flags & (1u << i))
            APR_ARRAY_PUSH(dir.trusted_headers, const char *) = trusted_sets[i];
    dir.trusted_proxies = apr_array_make(p, 1, sizeof(apr_ipsubnet_t *));
    apr_ipsubnet_t *subnet;
    if (apr_ipsubnet_create(&subnet, "127.0.0.1", NULL, p) == APR_SUCCESS)
        APR_ARRAY_PUSH(dir.trusted_proxies, apr_ipsubnet_t *) = subnet;
    void *dir_vector[1] = {&dir};
    r->per_dir_config = (ap_conf_vector_t *)dir_vector;

    si_mount_conf mount = {.kind = SI_SCRIPT_MOUNT, .url = "/app", .label = "mount /app",
                           .script = "/srv/app.py"};
    si_request req = {.r = r, .slot = &slot, .instance = &instance, .mount = &mount,
                      .script_name = "/app", .path_info = r->uri + 4,
                      .script_filename = mount.script, .st = &st};
    PyObject *environ = si_environ_build(&req, Py_None, Py_None);
    REQUIRE(environ);

    /* Every WSGI key is there (PEP 3333), with the request's bytes as latin-1 str. */
    REQUIRE(PyDict_GetItemWithError(environ, st.wsgi_input) == Py_None);
    REQUIRE(PyDict_GetItemWithError(environ, st.wsgi_url_scheme));
    REQUIRE(all_latin1_bytes(PyDict_GetItemWithError(environ, st.REQUEST_METHOD), r->method));
    REQUIRE(all_latin1_bytes(PyDict_GetItemWithError(environ, st.QUERY_STRING), r->args));
    int peer_trusted = (flags & 0x20) != 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(environ, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        REQUIRE(k);
        if (strncmp(k, "HTTP_", 5) != 0)
            continue;
        REQUIRE(k[5]);
        for (const char *q = k + 5; *q; q++)
            REQUIRE((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_');
        if (!dir.pass_authorization)
            REQUIRE(strcmp(k, "HTTP_AUTHORIZATION") != 0
                    && strcmp(k, "HTTP_PROXY_AUTHORIZATION") != 0);
    }
    /* Each request header: present as its CGI name with its bytes, unless it is one the rules
     * keep from the app. */
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    for (int i = 0; i < arr->nelts; i++) {
        size_t n = strlen(e[i].key);
        char *cgi = apr_palloc(p, n + 6);
        if (!si_http_cgi_name((const unsigned char *)e[i].key, n, cgi)) {
            continue;   /* never there: checked by the key loop above */
        }
        if (!strcasecmp(e[i].key, "Content-Type") || !strcasecmp(e[i].key, "Content-Length"))
            continue;
        PyObject *got = PyDict_GetItemString(environ, cgi);
        int forwarded = si_proxy_header_group(e[i].key, NULL) >= 0;
        int credentials = !strcasecmp(e[i].key, "Authorization")
                          || !strcasecmp(e[i].key, "Proxy-Authorization");
        int trusted = 0;
        for (int t = 0; t < dir.trusted_headers->nelts; t++)
            trusted |= !strcasecmp(e[i].key, APR_ARRAY_IDX(dir.trusted_headers, t, const char *));
        if (forwarded && dir.trusted_headers->nelts && (!peer_trusted || !trusted))
            REQUIRE(got == NULL);
        else if (credentials && !dir.pass_authorization)
            REQUIRE(got == NULL);
        else if (!(strcmp(cgi, "HTTP_HOST") == 0 && peer_trusted)) {
            if (!got || !all_latin1_bytes(got, e[i].val))
                fprintf(stderr, "header %s: '%s' became %s\n", e[i].key, e[i].val,
                        got ? PyUnicode_AsUTF8(PyObject_Repr(got)) : "nothing");
            REQUIRE(got && all_latin1_bytes(got, e[i].val));
        }
    }
    if (!peer_trusted || !dir.trusted_headers->nelts)
        REQUIRE(all_latin1_bytes(PyDict_GetItemWithError(environ, st.REMOTE_ADDR),
                                 c->client_ip));
    Py_DECREF(environ);
    REQUIRE(!PyErr_Occurred());
    apr_pool_destroy(p);
    return 0;
}
