/* si_request.c — one WSGI request from dispatch to the last byte (PEP 3333 "The Server Side").
 *
 * The worker thread takes an interpreter from the mount's pool, attaches its cached thread state
 * for that interpreter, calls the app, has si_response.c send what it returns and call close()
 * (always), and leaves.
 * An exception before the headers went out is a 500; after, the response is cut short so the
 * client cannot mistake it for a complete one.  Either way, the traceback goes to the error log
 * in one entry.
 */
#include "si_request.h"
#include "si_input.h"
#include "si_errors.h"
#include "si_response.h"
#include "si_environ.h"
#include "si_pool.h"
#include "si_app.h"
#include "si_maint.h"
#include "si_stats.h"
#include "si_runtime.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "pythread.h"

/* Logs the pending Python exception; returns what the handler answers. */
static int app_failed(si_request *req, const char *what)
{
    request_rec *r = req->r;
    int timed_out = si_exchange_timed_out(req);
    if (req->input_status == AP_FILTER_ERROR) {
        PyErr_Clear();
        return AP_FILTER_ERROR;   /* Apache answered already (SI0420); the app only echoed it */
    }
    /* An app thread may be in Apache with r right now: r->pool is used under the guard only. */
    int guarded = si_request_io_begin_keeping_error(req);
    const char *text = si_exception_text(r->pool);
    si_stats_add(req->mount->pool_spec, timed_out ? SI_STAT_TIMEOUTS : SI_STAT_EXCEPTIONS);
    if (timed_out)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0440: pool %s interpreter %d: %s %s ("
                      "%s, %s) interrupted after request-timeout; where it was:\n%s",
                      req->slot->pool->name, req->slot->index, r->method, r->uri,
                      req->mount->label, req->mount->script, text);
    else
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0401: pool %s interpreter %d: %s %s (%s, "
                      "%s) %s:\n%s", req->slot->pool->name, req->slot->index, r->method,
                      r->uri, req->mount->label, req->mount->script, what, text);
    if (guarded)
        si_request_io_end(req);
    if (!req->headers_sent)
        return timed_out ? HTTP_GATEWAY_TIME_OUT
               : req->input_status ? req->input_status : HTTP_INTERNAL_SERVER_ERROR;
    si_response_abort(req);
    return OK;
}

/* si_instance_app() gave no app (or hook module) for req's script: a request-timeout during its
 * import (an exception is set: 504, and the next request imports it), or it failed to load. */
static int no_app(si_request *req)
{
    if (PyErr_Occurred())
        return app_failed(req, "timed out while its script was imported");
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, req->r, "SI0302: pool %s interpreter %d: %s (%s) has "
                  "no app: %s failed to load: %s", req->slot->pool->name, req->slot->index,
                  req->r->uri, req->mount->label, req->mount->script,
                  si_instance_failure(req->instance, req->mount));
    return HTTP_INTERNAL_SERVER_ERROR;
}

static int run_app(si_request *req)
{
    request_rec *r = req->r;
    int status = OK;
    PyObject *input = NULL, *errors = NULL, *start_response = NULL, *environ = NULL;
    PyObject *result = NULL;
    PyObject *app = si_instance_app(req->instance, req->mount, r);

    if (!app)
        return no_app(req);
    if (!(input = si_input_new(req)) || !(errors = si_errors_new(req))
        || !(start_response = si_start_response_new(req))
        || !(environ = si_environ_build(req, input, errors))) {
        status = app_failed(req, "could not be prepared");
        goto done;
    }

    result = PyObject_CallFunctionObjArgs(app, environ, start_response, NULL);
    if (!result) {
        status = app_failed(req, "raised an exception");
        goto done;
    }
    if (si_response_send_body(req, result) < 0) {
        if (req->client_gone) {
            PyErr_Clear();   /* logged at info by the writer; nothing to send anyway */
            r->connection->keepalive = AP_CONN_CLOSE;
        }
        else {
            status = app_failed(req, "failed while producing its response");
        }
    }
    else if (!req->headers_sent && si_response_send_headers(req) < 0) {
        status = app_failed(req, "returned without a valid start_response call");
    }
    else {
        si_response_finish(req);
    }
    if (si_response_call_close(req, result) < 0) {
        int close_status = app_failed(req, "raised in close()");
        if (status == OK)
            status = close_status;
    }

done:
    si_exchange_end_io(req);
    if (input)
        si_input_detach(input);
    if (errors)
        si_errors_detach(errors);
    if (start_response)
        si_start_response_detach(start_response);
    Py_XDECREF(result);
    Py_XDECREF(app);
    Py_XDECREF(environ);
    Py_XDECREF(start_response);
    Py_XDECREF(errors);
    Py_XDECREF(input);
    Py_CLEAR(req->status);
    Py_CLEAR(req->headers);
    return status;
}

/* Takes an interpreter of pool for r (503 with Retry-After when the queue timed out).  A request
 * Apache nests inside one this thread runs (ErrorDocument, internal redirect, SSI) may take the
 * outer request's interpreter beyond max-active: waiting would be waiting for ourselves. */
static int acquire(request_rec *r, si_pool_spec *spec, si_pool **taken_from, si_slot **slot,
                   si_instance **instance)
{
    si_pool *pool = *taken_from = si_runtime_pool(spec);
    si_slot *held_slot = NULL;
    si_instance *held_instance = NULL;
    for (si_request *outer = si_exchange_innermost(); outer && !held_slot;
         outer = outer->outer)
        if (outer->slot->pool == pool) {
            held_slot = outer->slot;
            held_instance = outer->instance;
        }
    if (!pool) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0502: pool %s for %s is not running: "
                      "Python failed to start in this child (see SI02xx above)",
                      spec->name, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_status_t rv = si_pool_acquire(pool, held_slot, held_instance, slot, instance);
    if (rv == APR_TIMEUP) {
        si_stats_add(spec, SI_STAT_REJECTED);
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        if (si_pool_is_starting(pool))
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "SI0504: pool %s is still loading "
                          "its apps in this child (it started %" APR_TIME_T_FMT " s ago) and "
                          "has no interpreter ready after queue-timeout=%" APR_TIME_T_FMT " s; "
                          "answering 503 for %s", pool->name,
                          apr_time_sec(apr_time_now() - si_runtime_started()),
                          apr_time_sec(pool->spec->queue_timeout), r->uri);
        else
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "SI0501: pool %s: every interpreter "
                          "had max-active=%d requests for queue-timeout; answering 503 for %s",
                          pool->name, pool->spec->max_active, r->uri);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (rv != APR_SUCCESS && pool->spec->probe_failure) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0502: pool %s is not loaded, so %s "
                      "answers 500: at start-up, %s (SI0305, SI0309)", pool->name, r->uri,
                      pool->spec->probe_failure);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0502: pool %s has no ready interpreter "
                      "for %s (see SI02xx above)", pool->name, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* For ErrorLogFormat's %{subinterp-pool}n (and CustomLog's %{subinterp-pool}n). */
    apr_table_setn(r->notes, "subinterp-pool", (*slot)->label);
    return OK;
}

static void release(si_pool *pool, si_slot *slot, si_instance *instance, apr_time_t started)
{
    if (si_pool_release(pool, slot, instance, started))
        si_maint_wake();   /* build the replacement now; this one serves until it is ready */
}

/* Runs body with req's interpreter attached and the request tracked for request-timeout, and
 * stores what it returns in *result.  -1 (logged) if no thread state could be made. */
static int with_interpreter(si_request *req, int (*body)(si_request *, void *), void *baton,
                            int *result)
{
    /* cpu-affinity=on: before the GIL is waited for, so that the wait is on the right core. */
    si_cpu_set saved;
    int pinned = si_slot_pin(req->slot, &saved);
    if (!si_tstate_enter(req->slot->cache_index, &req->instance->registry)) {
        ap_log_rerror(APLOG_MARK, APLOG_CRIT, 0, req->r, "SI0503: pool %s interpreter %d: no "
                      "thread state could be made for this thread", req->slot->pool->name,
                      req->slot->index);
        if (pinned)
            si_slot_unpin(&saved);
        return -1;
    }
    req->st = req->instance->st;
    req->thread_ident = PyThread_get_thread_ident();
    struct timespec cpu_start;
    int sampled = si_slot_cpu_sample_begin(req->slot, &cpu_start);
    si_exchange_enter(req);
    si_maint_track(req);
    *result = body(req, baton);
    si_maint_untrack(req);
    si_exchange_leave(req);
    if (sampled)
        si_slot_cpu_sample_end(req->slot, &cpu_start);
    si_tstate_leave();
    if (pinned)
        si_slot_unpin(&saved);
    return 0;
}

static int run_app_body(si_request *req, void *baton)
{
    (void)baton;
    return run_app(req);
}

static int handle(request_rec *r, si_mount_conf *mount, const si_cgi_list *forwarded);

/* Every answer a mount gives is counted server-wide by class (si_stats.c). */
static int handle_counted(request_rec *r, si_mount_conf *mount, const si_cgi_list *forwarded)
{
    int status = handle(r, mount, forwarded);
    si_stats_response(mount->pool_spec, status == OK || status == AP_FILTER_ERROR ? r->status
                                                                              : status);
    return status;
}

int si_request_handle(request_rec *r, si_mount_conf *mount)
{
    return handle_counted(r, mount, NULL);
}

int si_request_handle_forwarded(request_rec *r, si_mount_conf *mount, const si_cgi_list *vars)
{
    return handle_counted(r, mount, vars);
}

static int handle(request_rec *r, si_mount_conf *mount, const si_cgi_list *forwarded)
{
    if (!forwarded && si_cgi_body_too_large(r))
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    si_pool *pool;
    si_slot *slot;
    si_instance *instance;
    apr_time_t started = apr_time_now();
    int status = acquire(r, mount->pool_spec, &pool, &slot, &instance);
    if (status != OK)
        return status;

    si_request req = {.r = r, .slot = slot, .instance = instance, .mount = mount,
                      .pool_name = slot->pool->name, .pool_index = slot->index,
                      .content_length = -1, .forwarded = forwarded};
    si_cgi_mapping map = {"", "", mount->script};   /* forwarded: the environ has them */
    if (!forwarded)
        si_cgi_map(r, mount, &map);
    req.script_name = map.script_name;
    req.path_info = map.path_info;
    req.script_filename = map.script_filename;
    req.out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    req.in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (with_interpreter(&req, run_app_body, NULL, &status) < 0)
        status = HTTP_INTERNAL_SERVER_ERROR;
    release(pool, slot, instance, started);
    return status;
}

int si_request_handle_file(request_rec *r)
{
    si_dir_conf *dir = ap_get_module_config(r->per_dir_config, &subinterp_module);
    if (r->finfo.filetype == APR_NOFILE) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SI0312: no script file %s for %s",
                      r->filename, r->uri);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0312: %s (for %s) is not a regular file; "
                      "subinterp-script runs script files only", r->filename, r->uri);
        return HTTP_FORBIDDEN;
    }
    if (!(ap_allow_options(r) & OPT_EXECCGI)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0313: Options ExecCGI is off in the "
                      "directory of %s; subinterp-script refuses to run it", r->filename);
        return HTTP_FORBIDDEN;
    }
    if (!dir || !dir->handler_pool || !dir->handler_pool->spec) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0311: %s is handled by subinterp-script "
                      "but no SubinterpHandlerPool is in effect there; answering 500",
                      r->filename);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    si_mount_conf *file = apr_pcalloc(r->pool, sizeof(*file));
    file->kind = SI_SCRIPT_FILE;
    file->url = "";
    file->label = apr_pstrcat(r->pool, "script ", r->filename, NULL);
    file->script = r->filename;
    file->callable = dir->callable ? dir->callable : "application";
    file->pool_spec = dir->handler_pool->spec;
    file->index = -1;
    file->server = r->server;
    return si_request_handle(r, file);
}

typedef struct {
    const char *function;
    si_hook_fn fn;
    void *baton;
} hook_call;

static int run_hook_body(si_request *req, void *baton)
{
    hook_call *call = baton;
    request_rec *r = req->r;
    int result = -1;
    PyObject *module = si_instance_app(req->instance, req->mount, r), *function = NULL;
    PyObject *errors = NULL, *environ = NULL;
    if (!module) {
        no_app(req);
        goto done;
    }
    if (PyObject_GetOptionalAttrString(module, call->function, &function) <= 0
        || !PyCallable_Check(function)) {
        PyErr_Clear();
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0601: %s (%s) defines no function %s(); "
                      "answering 500 for %s", req->mount->label, req->mount->script,
                      call->function, r->uri);
        goto done;
    }
    if (!(errors = si_errors_new(req)) || !(environ = si_environ_build(req, NULL, errors))) {
        app_failed(req, "could not be prepared");
        goto done;
    }
    result = call->fn(req, function, environ, call->baton);
done:
    si_exchange_end_io(req);
    if (errors)
        si_errors_detach(errors);
    Py_XDECREF(environ);
    Py_XDECREF(errors);
    Py_XDECREF(function);
    Py_XDECREF(module);
    return result;
}

si_hook_outcome si_request_run_hook(request_rec *r, si_mount_conf *script, const char *function,
                                    si_hook_fn fn, void *baton)
{
    si_pool *pool;
    si_slot *slot;
    si_instance *instance;
    apr_time_t started = apr_time_now();
    int refused = acquire(r, script->pool_spec, &pool, &slot, &instance);
    if (refused != OK)
        return (si_hook_outcome){.http_status = refused};
    si_request req = {.r = r, .slot = slot, .instance = instance, .mount = script,
                      .pool_name = slot->pool->name, .pool_index = slot->index,
                      .script_name = "", .path_info = r->uri, .script_filename = script->script,
                      .content_length = -1};
    hook_call call = {.function = function, .fn = fn, .baton = baton};
    int result;
    if (with_interpreter(&req, run_hook_body, &call, &result) < 0)
        result = -1;
    release(pool, slot, instance, started);
    if (result < 0)
        return (si_hook_outcome){.http_status = HTTP_INTERNAL_SERVER_ERROR};
    return (si_hook_outcome){.ran = 1, .result = result};
}
