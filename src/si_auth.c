/* si_auth.c — Apache's authn/authz providers and access hook, answered by Python functions. */
#include "si_auth.h"
#include "si_config.h"
#include "si_request.h"
#include "si_pool.h"
#include "si_app.h"

#include "mod_auth.h"

#include "apr_lib.h"
#include "http_core.h"
#include "http_request.h"

#define SI_PROVIDER "subinterp"
#define SI_GROUP_PROVIDER "subinterp-group"

static si_dir_conf *dir_config(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &subinterp_module);
}

/* Logs the pending exception of a hook call with what was being asked. */
/* Both log against r, which a thread the hook started may be using inside Apache: inside the
 * request's I/O guard, as every other use of r while the hook runs. */
static void hook_raised(si_request *req, const char *what)
{
    int guarded = si_request_io_begin_keeping_error(req);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, "SI0602: pool %s interpreter %d: %s (%s) "
                  "raised for %s; answering 500:\n%s", req->slot->pool->name,
                  req->slot->index, what, req->mount->script, req->r->uri,
                  si_exception_text(req->r->pool));
    if (guarded)
        si_request_io_end(req);
}

/* function(environ, first[, second]) with the strings as latin-1 str, as everything in the
 * environ; NULL (logged as SI0602) if it raised. */
static PyObject *call_hook(si_request *req, const char *what, PyObject *function,
                           PyObject *environ, const char *first, const char *second)
{
    PyObject *a = PyUnicode_DecodeLatin1(first, strlen(first), NULL);
    PyObject *b = second ? PyUnicode_DecodeLatin1(second, strlen(second), NULL) : NULL;
    PyObject *answer = NULL;
    if (a && (b || !second))
        answer = PyObject_CallFunctionObjArgs(function, environ, a, b, NULL);
    Py_XDECREF(a);
    Py_XDECREF(b);
    if (!answer)
        hook_raised(req, what);
    return answer;
}

static void hook_misanswered(si_request *req, const char *what, PyObject *answer,
                             const char *expected)
{
    int guarded = si_request_io_begin_keeping_error(req);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, "SI0603: %s (%s) returned %.100s for %s; "
                  "expected %s. Answering 500", what, req->mount->script,
                  Py_TYPE(answer)->tp_name, req->r->uri, expected);
    if (guarded)
        si_request_io_end(req);
}

static void missing_script(request_rec *r, const char *directive, const char *needed_by)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0600: %s is used for %s but no %s is in "
                  "effect there; answering 500", needed_by, r->uri, directive);
}

/* --- authentication ---------------------------------------------------------------------- */

typedef struct {
    const char *user, *password, *realm;
    char *hash;
} credentials;

static int call_check_password(si_request *req, PyObject *function, PyObject *environ,
                               void *baton)
{
    credentials *c = baton;
    PyObject *answer = call_hook(req, "check_password()", function, environ, c->user,
                                 c->password);
    if (!answer)
        return AUTH_GENERAL_ERROR;
    int status = answer == Py_True ? AUTH_GRANTED
                 : answer == Py_False ? AUTH_DENIED
                 : answer == Py_None ? AUTH_USER_NOT_FOUND : AUTH_GENERAL_ERROR;
    if (status == AUTH_GENERAL_ERROR)
        hook_misanswered(req, "check_password()", answer, "True, False or None");
    Py_DECREF(answer);
    return status;
}

static authn_status check_password(request_rec *r, const char *user, const char *password)
{
    si_mount_conf *script = dir_config(r)->auth_user;
    if (!script) {
        missing_script(r, "SubinterpAuthUserScript", "AuthBasicProvider " SI_PROVIDER);
        return AUTH_GENERAL_ERROR;
    }
    credentials c = {.user = user, .password = password};
    si_hook_outcome hook = si_request_run_hook(r, script, "check_password", call_check_password,
                                               &c);
    return hook.ran ? (authn_status)hook.result : AUTH_GENERAL_ERROR;
}

static int is_md5_hex(const char *text, Py_ssize_t len)
{
    if (len != 32)
        return 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (!apr_isxdigit(text[i]))
            return 0;
    return 1;
}

static int call_get_realm_hash(si_request *req, PyObject *function, PyObject *environ,
                               void *baton)
{
    credentials *c = baton;
    PyObject *answer = call_hook(req, "get_realm_hash()", function, environ, c->user, c->realm);
    if (!answer)
        return AUTH_GENERAL_ERROR;
    int status = AUTH_GENERAL_ERROR;
    Py_ssize_t len;
    const char *text = PyUnicode_Check(answer) ? PyUnicode_AsUTF8AndSize(answer, &len) : NULL;
    if (answer == Py_None) {
        status = AUTH_USER_NOT_FOUND;
    }
    else if (text && is_md5_hex(text, len)) {
        c->hash = apr_pstrmemdup(req->r->pool, text, len);
        ap_str_tolower(c->hash);
        status = AUTH_USER_FOUND;
    }
    else {
        PyErr_Clear();
        hook_misanswered(req, "get_realm_hash()", answer,
                         "None or the 32 hex digits of md5('user:realm:password')");
    }
    Py_DECREF(answer);
    return status;
}

static authn_status get_realm_hash(request_rec *r, const char *user, const char *realm,
                                   char **rethash)
{
    si_mount_conf *script = dir_config(r)->auth_user;
    if (!script) {
        missing_script(r, "SubinterpAuthUserScript", "AuthDigestProvider " SI_PROVIDER);
        return AUTH_GENERAL_ERROR;
    }
    credentials c = {.user = user, .realm = realm};
    si_hook_outcome hook = si_request_run_hook(r, script, "get_realm_hash", call_get_realm_hash,
                                               &c);
    if (!hook.ran)
        return AUTH_GENERAL_ERROR;
    if (hook.result == AUTH_USER_FOUND)
        *rethash = c.hash;
    return (authn_status)hook.result;
}

static const authn_provider authn_subinterp = {check_password, get_realm_hash};

/* --- authorization ----------------------------------------------------------------------- */

typedef struct {
    apr_array_header_t *wanted;   /* const char *, from the Require line */
    const char *matched;
} group_check;

static int call_groups_for_user(si_request *req, PyObject *function, PyObject *environ,
                                void *baton)
{
    group_check *check = baton;
    PyObject *answer = call_hook(req, "groups_for_user()", function, environ, req->r->user,
                                 NULL);
    PyObject *iter = NULL, *item;
    if (!answer)
        return AUTHZ_GENERAL_ERROR;
    int status = AUTHZ_DENIED;
    if (PyUnicode_Check(answer) || PyBytes_Check(answer) || !(iter = PyObject_GetIter(answer))) {
        PyErr_Clear();   /* a str would be iterated one letter at a time */
        hook_misanswered(req, "groups_for_user()", answer, "a list of str");
        status = AUTHZ_GENERAL_ERROR;
    }
    while (iter && status == AUTHZ_DENIED && (item = PyIter_Next(iter))) {
        const char *group = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : NULL;
        if (!group) {
            PyErr_Clear();
            hook_misanswered(req, "groups_for_user() item", item, "str");
            status = AUTHZ_GENERAL_ERROR;
        }
        for (int i = 0; group && i < check->wanted->nelts; i++)
            if (strcmp(group, APR_ARRAY_IDX(check->wanted, i, const char *)) == 0) {
                check->matched = APR_ARRAY_IDX(check->wanted, i, const char *);
                status = AUTHZ_GRANTED;
                break;
            }
        Py_DECREF(item);
    }
    if (iter && PyErr_Occurred()) {
        hook_raised(req, "iterating groups_for_user()'s answer");
        status = AUTHZ_GENERAL_ERROR;
    }
    Py_XDECREF(iter);
    Py_DECREF(answer);
    return status;
}

static apr_array_header_t *group_words(apr_pool_t *p, const char *line)
{
    apr_array_header_t *words = apr_array_make(p, 4, sizeof(const char *));
    const char *word;
    while (*line && *(word = ap_getword_conf(p, &line)))
        APR_ARRAY_PUSH(words, const char *) = word;
    return words;
}

static authz_status check_group(request_rec *r, const char *require_line, const void *parsed)
{
    (void)parsed;
    if (!r->user)
        return AUTHZ_DENIED_NO_USER;
    si_mount_conf *script = dir_config(r)->auth_group;
    if (!script) {
        missing_script(r, "SubinterpAuthGroupScript", "Require " SI_GROUP_PROVIDER);
        return AUTHZ_GENERAL_ERROR;
    }
    group_check check = {.wanted = group_words(r->pool, require_line)};
    si_hook_outcome hook = si_request_run_hook(r, script, "groups_for_user",
                                               call_groups_for_user, &check);
    if (!hook.ran)
        return AUTHZ_GENERAL_ERROR;
    if (hook.result == AUTHZ_DENIED)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SI0604: user %s is in none of the groups "
                      "'%s' required for %s", r->user, require_line, r->uri);
    return (authz_status)hook.result;
}

static const char *parse_group_line(cmd_parms *cmd, const char *require_line,
                                    const void **parsed)
{
    (void)parsed;
    if (group_words(cmd->temp_pool, require_line)->nelts == 0)
        return "SI0106: Require " SI_GROUP_PROVIDER " needs at least one group name";
    return NULL;
}

static const authz_provider authz_subinterp_group = {check_group, parse_group_line};

/* --- access ------------------------------------------------------------------------------ */

#define NO_OPINION 1   /* allow_access() returned None */

static int call_allow_access(si_request *req, PyObject *function, PyObject *environ,
                             void *baton)
{
    PyObject *answer = call_hook(req, "allow_access()", function, environ, baton, NULL);
    if (!answer)
        return HTTP_INTERNAL_SERVER_ERROR;
    /* Not DECLINED itself: that is -1, which si_request_run_hook keeps for its own failures. */
    int status = answer == Py_True ? OK
                 : answer == Py_False ? HTTP_FORBIDDEN
                 : answer == Py_None ? NO_OPINION : HTTP_INTERNAL_SERVER_ERROR;
    if (status == HTTP_INTERNAL_SERVER_ERROR)
        hook_misanswered(req, "allow_access()", answer, "True, False or None");
    Py_DECREF(answer);
    return status;
}

/* True: OK; False: 403; None: no opinion, the other access rules decide. */
static int check_access(request_rec *r)
{
    si_dir_conf *dir = dir_config(r);
    if (!dir || !dir->access)
        return DECLINED;
    const char *host = ap_get_useragent_host(r, REMOTE_NAME, NULL);
    si_hook_outcome hook = si_request_run_hook(r, dir->access, "allow_access",
                                               call_allow_access,
                                               (void *)(host ? host : r->useragent_ip));
    if (!hook.ran)
        return hook.http_status;
    if (hook.result == NO_OPINION)
        return DECLINED;
    if (hook.result == HTTP_FORBIDDEN)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SI0605: allow_access() (%s) denied %s "
                      "for %s", dir->access->script, r->uri, host ? host : r->useragent_ip);
    return hook.result;
}

void si_auth_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, SI_PROVIDER, AUTHN_PROVIDER_VERSION,
                              &authn_subinterp, AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, SI_GROUP_PROVIDER,
                              AUTHZ_PROVIDER_VERSION, &authz_subinterp_group,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_access(check_access, NULL, NULL, APR_HOOK_MIDDLE, AP_AUTH_INTERNAL_PER_CONF);
}
