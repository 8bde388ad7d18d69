/* si_status.c — the status page and mod_status rows (see si_status.h). */
#include "si_status.h"
#include "si_shared_store.h"
#include "si_stats.h"
#include "si_pool.h"
#include "si_runtime.h"
#include "si_status_procs.h"
#include "si_status_text.h"

#include "mod_status.h"

#include "http_core.h"
#include "http_protocol.h"

#include <unistd.h>

typedef struct {
    int index;
    apr_uint64_t generation, served, recycles;
    int active, ready;
    int starting;                   /* no instance yet: the child's loader still builds it */
    int failed;                     /* an app of the pool failed to import in it (SI0301) */
    const char *failure;            /* why (the exception's last line), or NULL */
    double avg_ms;
} slot_snapshot;

typedef struct {
    si_pool *pool;
    slot_snapshot *slots;
    int retired;
    apr_uint64_t rejected;
    si_store_stats shared;          /* the pool's mod_subinterp.shared, in this child */
} pool_snapshot;

/* The shared cache's figures, for each format: name, kind, help, field. */
#define SI_SHARED_STATS(X)                                                                  \
    X(entries, "gauge", "Keys in the pool's mod_subinterp.shared.cache.")                   \
    X(bytes, "gauge", "Bytes the cache holds (keys, values, bookkeeping).")                 \
    X(limit, "gauge", "The cache's byte limit (cache-size=).")                              \
    X(hits, "counter", "Cache reads that found their key.")                                 \
    X(misses, "counter", "Cache reads that did not.")                                       \
    X(evictions, "counter", "Keys evicted, least recently used first, to stay in the limit.") \
    X(expired, "counter", "Keys dropped after their ttl.")                                  \
    X(queues, "gauge", "Named mod_subinterp.shared.Queue objects of the pool.")

static apr_array_header_t *snapshot(apr_pool_t *p)
{
    apr_array_header_t *pools = si_runtime_pools();
    apr_array_header_t *out = apr_array_make(p, pools ? pools->nelts : 1, sizeof(pool_snapshot));
    for (int i = 0; pools && i < pools->nelts; i++) {
        si_pool *pool = APR_ARRAY_IDX(pools, i, si_pool *);
        pool_snapshot *ps = &APR_ARRAY_PUSH(out, pool_snapshot);
        ps->pool = pool;
        ps->slots = apr_pcalloc(p, pool->slot_count * sizeof(slot_snapshot));
        si_lock(pool->lock);
        for (int k = 0; k < pool->slot_count; k++) {
            si_slot *slot = &pool->slots[k];
            slot_snapshot *ss = &ps->slots[k];
            ss->index = k;
            ss->ready = slot->current != NULL;
            ss->starting = !slot->current && pool->starting;
            ss->failed = slot->current && slot->current->apps_failed > 0;
            ss->failure = NULL;
            for (int m = 0; ss->failed && !ss->failure && m < pool->spec->mounts->nelts; m++) {
                const char *why = si_instance_failure(slot->current,
                                                      APR_ARRAY_IDX(pool->spec->mounts, m,
                                                                    si_mount_conf *));
                if (*why)
                    ss->failure = apr_pstrdup(p, why);   /* the instance may be replaced */
            }
            ss->generation = slot->current ? slot->current->generation : 0;
            ss->active = slot->active;
            ss->served = slot->served;
            ss->recycles = slot->recycles;
            ss->avg_ms = slot->served ? (double)slot->busy_usec / slot->served / 1000.0 : 0;
        }
        for (si_instance *inst = pool->retired; inst; inst = inst->next_retired)
            ps->retired++;
        ps->rejected = pool->rejected;
        si_unlock(pool->lock);
        if (pool->store)
            si_store_get_stats(pool->store, &ps->shared);
    }
    return out;
}

static apr_int64_t resident_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (apr_int64_t)resident * sysconf(_SC_PAGESIZE);
}


/* "failed": the pool's imports killed the start-up probe (SI0305), so it was never loaded, or
 * an app of the pool failed to import in that interpreter (SI0301/SI0303).  "starting": the
 * child's loader has not built it yet. */
static const char *slot_state(si_pool *pool, const slot_snapshot *ss)
{
    return pool->spec->probe_failure || ss->failed ? "failed" : ss->ready ? "ready"
           : ss->starting ? "starting" : "down";
}

static const char *vhost_of(apr_pool_t *p, si_pool *pool)
{
    return si_status_vhost(p, pool->spec);
}

/* Server-wide figures (every child), from shared memory. */
static const struct {
    si_stat stat;
    const char *json, *metric, *help, *klass;
} server_stats[] = {
    {SI_STAT_RESPONSES_2XX, "responses_2xx", "responses_total", "Responses of a pool's apps "
     "by status class, all children together.", "2xx"},
    {SI_STAT_RESPONSES_3XX, "responses_3xx", "responses_total", NULL, "3xx"},
    {SI_STAT_RESPONSES_4XX, "responses_4xx", "responses_total", NULL, "4xx"},
    {SI_STAT_RESPONSES_5XX, "responses_5xx", "responses_total", NULL, "5xx"},
    {SI_STAT_TIMEOUTS, "timeouts", "request_timeouts_total", "Requests interrupted after "
     "request-timeout (504), all children together.", NULL},
    {SI_STAT_REJECTED, "rejected", "queue_rejections_total", "Requests answered 503 after "
     "queue-timeout, all children together.", NULL},
    {SI_STAT_EXCEPTIONS, "exceptions", "app_exceptions_total", "Exceptions raised by apps "
     "(SI0401), all children together.", NULL},
    {SI_STAT_RECYCLES, "recycles", "pool_recycles_total", "Interpreters replaced after "
     "max-requests, all children together.", NULL},
    {SI_STAT_RELOADS, "reloads", "pool_reloads_total", "Pool reloads after a script change, "
     "all children together.", NULL},
};
#define SI_SERVER_STATS (sizeof(server_stats) / sizeof(server_stats[0]))

static void send_json(request_rec *r, apr_array_header_t *pools, apr_int64_t rss)
{
    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"version\": \"%s\", \"python\": %s, \"pid\": %" APR_PID_T_FMT ", "
               "\"rss_bytes\": %" APR_INT64_T_FMT ", \"uptime_seconds\": %" APR_TIME_T_FMT
               ", \"pools\": [", SI_VERSION, si_status_json(r->pool, Py_GetVersion()), getpid(),
               rss, apr_time_sec(apr_time_now() - si_runtime_started()));
    for (int i = 0; i < pools->nelts; i++) {
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
        si_pool_spec *spec = ps->pool->spec;
        ap_rprintf(r, "%s{\"name\": %s, \"vhost\": %s, \"gil\": \"%s\", \"max_active\": %d, "
                   "\"max_requests\": %d, \"retired\": %d, \"rejected\": %" APR_UINT64_T_FMT
                   ", \"interpreters\": [", i ? ", " : "", si_status_json(r->pool, ps->pool->name),
                   si_status_json(r->pool, vhost_of(r->pool, ps->pool)), si_gil_name(spec->gil),
                   spec->max_active, spec->max_requests, ps->retired, ps->rejected);
        for (int k = 0; k < ps->pool->slot_count; k++) {
            slot_snapshot *ss = &ps->slots[k];
            ap_rprintf(r, "%s{\"index\": %d, \"state\": \"%s\", \"generation\": %"
                       APR_UINT64_T_FMT ", \"active\": %d, \"served\": %" APR_UINT64_T_FMT
                       ", \"recycles\": %" APR_UINT64_T_FMT ", \"avg_ms\": %.3f", k ? ", " : "",
                       ss->index, slot_state(ps->pool, ss), ss->generation, ss->active,
                       ss->served, ss->recycles, ss->avg_ms);
            if (ps->pool->slots[k].cpu >= 0)   /* cpu-affinity=on or auto; fixed at child start */
                ap_rprintf(r, ", \"cpu\": %d, \"pinning\": %s", ps->pool->slots[k].cpu,
                           si_slot_pins_now(&ps->pool->slots[k]) ? "true" : "false");
            if (ss->failure)
                ap_rprintf(r, ", \"error\": %s", si_status_json(r->pool, ss->failure));
            ap_rputs("}", r);
        }
        ap_rputs("], \"server_wide\": {", r);
        for (unsigned m = 0; m < SI_SERVER_STATS; m++)
            ap_rprintf(r, "%s\"%s\": %" APR_UINT64_T_FMT, m ? ", " : "", server_stats[m].json,
                       si_stats_get(spec, server_stats[m].stat));
        if (spec->probe_failure)
            ap_rprintf(r, ", \"failure\": %s", si_status_json(r->pool, spec->probe_failure));
        ap_rputs("}, \"shared_cache\": {", r);
        const char *sep = "";
#define SI_SHARED_JSON(field, kind, help)                                                    \
        ap_rprintf(r, "%s\"" #field "\": %" APR_UINT64_T_FMT, sep,                           \
                   (apr_uint64_t)ps->shared.field);                                          \
        sep = ", ";
        SI_SHARED_STATS(SI_SHARED_JSON)
#undef SI_SHARED_JSON
        ap_rputs("}}", r);
    }
    ap_rputs("]", r);
    si_status_procs_json(r);
    ap_rputs("}\n", r);
}

static void metric_header(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP mod_subinterp_%s %s\n# TYPE mod_subinterp_%s %s\n", name, help, name,
               type);
}

static void send_prometheus(request_rec *r, apr_array_header_t *pools, apr_int64_t rss)
{
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    pid_t pid = getpid();
    metric_header(r, "info", "gauge", "mod_subinterp and Python versions.");
    ap_rprintf(r, "mod_subinterp_info{version=\"%s\",python=\"%d.%d.%d\"} 1\n", SI_VERSION,
               PY_MAJOR_VERSION, PY_MINOR_VERSION, PY_MICRO_VERSION);
    metric_header(r, "child_resident_bytes", "gauge", "Resident memory of the Apache child.");
    ap_rprintf(r, "mod_subinterp_child_resident_bytes{pid=\"%" APR_PID_T_FMT "\"} %"
               APR_INT64_T_FMT "\n", pid, rss);
    static const struct {
        const char *name, *type, *help;
    } slot_metrics[] = {
        {"requests_total", "counter", "Requests served by an interpreter slot."},
        {"active_requests", "gauge", "Requests running now in an interpreter slot."},
        {"recycles_total", "counter", "Times an interpreter slot got a new interpreter."},
        {"generation", "gauge", "Generation of the interpreter serving a slot."},
        {"request_seconds_average", "gauge", "Average time a request held an interpreter."},
    };
    for (unsigned m = 0; m < sizeof(slot_metrics) / sizeof(slot_metrics[0]); m++) {
        metric_header(r, slot_metrics[m].name, slot_metrics[m].type, slot_metrics[m].help);
        for (int i = 0; i < pools->nelts; i++) {
            pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
            const char *pool_label = si_status_label(r->pool, ps->pool->name);
            const char *vhost = si_status_label(r->pool, vhost_of(r->pool, ps->pool));
            for (int k = 0; k < ps->pool->slot_count; k++) {
                slot_snapshot *ss = &ps->slots[k];
                ap_rprintf(r, "mod_subinterp_%s{pool=\"%s\",vhost=\"%s\",interpreter=\"%d\","
                           "pid=\"%" APR_PID_T_FMT "\"} ", slot_metrics[m].name, pool_label, vhost,
                           k, pid);
                if (m == 0)
                    ap_rprintf(r, "%" APR_UINT64_T_FMT "\n", ss->served);
                else if (m == 1)
                    ap_rprintf(r, "%d\n", ss->active);
                else if (m == 2)
                    ap_rprintf(r, "%" APR_UINT64_T_FMT "\n", ss->recycles);
                else if (m == 3)
                    ap_rprintf(r, "%" APR_UINT64_T_FMT "\n", ss->generation);
                else
                    ap_rprintf(r, "%.6f\n", ss->avg_ms / 1000.0);
            }
        }
    }
    for (unsigned m = 0; m < SI_SERVER_STATS; m++) {
        if (server_stats[m].help)
            metric_header(r, server_stats[m].metric, "counter", server_stats[m].help);
        for (int i = 0; i < pools->nelts; i++) {
            pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
            ap_rprintf(r, "mod_subinterp_%s{pool=\"%s\",vhost=\"%s\"%s%s%s} %" APR_UINT64_T_FMT
                       "\n", server_stats[m].metric, si_status_label(r->pool, ps->pool->name),
                       si_status_label(r->pool, vhost_of(r->pool, ps->pool)),
                       server_stats[m].klass ? ",class=\"" : "",
                       server_stats[m].klass ? server_stats[m].klass : "",
                       server_stats[m].klass ? "\"" : "",
                       si_stats_get(ps->pool->spec, server_stats[m].stat));
        }
    }
    metric_header(r, "app_up", "gauge", "1 when every interpreter of the pool serves all its "
                  "apps; 0 when an import failed or the pool was not loaded (SI0305).");
    for (int i = 0; i < pools->nelts; i++) {
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
        int up = 1;
        for (int k = 0; k < ps->pool->slot_count; k++)
            up = up && strcmp(slot_state(ps->pool, &ps->slots[k]), "ready") == 0;
        ap_rprintf(r, "mod_subinterp_app_up{pool=\"%s\",vhost=\"%s\",pid=\"%" APR_PID_T_FMT
                   "\"} %d\n", si_status_label(r->pool, ps->pool->name),
                   si_status_label(r->pool, vhost_of(r->pool, ps->pool)), pid, up);
    }
    metric_header(r, "retired_interpreters", "gauge", "Replaced interpreters not yet ended.");
    for (int i = 0; i < pools->nelts; i++) {
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
        ap_rprintf(r, "mod_subinterp_retired_interpreters{pool=\"%s\",vhost=\"%s\",pid=\"%"
                   APR_PID_T_FMT "\"} %d\n", si_status_label(r->pool, ps->pool->name),
                   si_status_label(r->pool, vhost_of(r->pool, ps->pool)), pid, ps->retired);
    }
#define SI_SHARED_METRIC(field, kind, help)                                                  \
    metric_header(r, "shared_cache_" #field, kind, help);                                   \
    for (int i = 0; i < pools->nelts; i++) {                                                 \
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);                         \
        ap_rprintf(r, "mod_subinterp_shared_cache_" #field "{pool=\"%s\",vhost=\"%s\",pid=\"%" \
                   APR_PID_T_FMT "\"} %" APR_UINT64_T_FMT "\n",                              \
                   si_status_label(r->pool, ps->pool->name),                                \
                   si_status_label(r->pool, vhost_of(r->pool, ps->pool)), pid,              \
                   (apr_uint64_t)ps->shared.field);                                          \
    }
    SI_SHARED_STATS(SI_SHARED_METRIC)
#undef SI_SHARED_METRIC
    metric_header(r, "rejected_total", "counter", "Requests answered 503 after queue-timeout.");
    for (int i = 0; i < pools->nelts; i++) {
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
        ap_rprintf(r, "mod_subinterp_rejected_total{pool=\"%s\",vhost=\"%s\",pid=\"%"
                   APR_PID_T_FMT "\"} %" APR_UINT64_T_FMT "\n",
                   si_status_label(r->pool, ps->pool->name),
                   si_status_label(r->pool, vhost_of(r->pool, ps->pool)), pid, ps->rejected);
    }
    si_status_procs_prometheus(r);
}

/* How many of the pool's interpreters are in each state, and the first reason one failed. */
typedef struct {
    int ready, failed, starting, down;
    const char *why;
} pool_health;

static pool_health health_of(const pool_snapshot *ps)
{
    pool_health h = {.why = ps->pool->spec->probe_failure};
    for (int k = 0; k < ps->pool->slot_count; k++) {
        const char *state = slot_state(ps->pool, &ps->slots[k]);
        h.ready += strcmp(state, "ready") == 0;
        h.failed += strcmp(state, "failed") == 0;
        h.starting += strcmp(state, "starting") == 0;
        h.down += strcmp(state, "down") == 0;
        if (!h.why && ps->slots[k].failure)
            h.why = ps->slots[k].failure;
    }
    return h;
}

/* One row per pool, the failed and down ones first: what an administrator looks for first. */
static void html_summary(request_rec *r, apr_array_header_t *pools)
{
    ap_rputs("<h2>Summary</h2>\n<table class=\"summary\">\n<tr><th>Pool</th><th>Virtual "
             "host</th><th>State</th><th>Interpreters ready</th><th>Why</th></tr>\n", r);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < pools->nelts; i++) {
            pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
            pool_health h = health_of(ps);
            int bad = h.failed > 0 || h.down > 0;
            if (bad != (pass == 0))
                continue;
            const char *state = h.failed ? "failed" : h.down ? "down"
                                : h.starting ? "starting" : "ready";
            ap_rprintf(r, "<tr><td class=\"name\">%s</td><td class=\"name\">%s</td>"
                       "<td class=\"%s\">%s</td><td>%d of %d</td><td class=\"why\">%s</td>"
                       "</tr>\n", ap_escape_html(r->pool, ps->pool->name),
                       ap_escape_html(r->pool, vhost_of(r->pool, ps->pool)), state, state,
                       h.ready, ps->pool->slot_count,
                       h.why ? ap_escape_html(r->pool, h.why) : "");
        }
    ap_rputs("</table>\n", r);
}

/* The options an administrator checks first, beside the pool's name. */
static void html_options(request_rec *r, const si_pool_spec *spec)
{
    ap_rprintf(r, ", interpreters=%d", spec->interpreters);
    if (spec->max_active)
        ap_rprintf(r, ", max-active=%d", spec->max_active);
    if (spec->max_requests)
        ap_rprintf(r, ", max-requests=%d", spec->max_requests);
    ap_rprintf(r, ", queue-timeout=%" APR_TIME_T_FMT " s", apr_time_sec(spec->queue_timeout));
    if (spec->request_timeout)
        ap_rprintf(r, ", request-timeout=%" APR_TIME_T_FMT " s",
                   apr_time_sec(spec->request_timeout));
    if (spec->virtualenv)
        ap_rprintf(r, ", virtualenv=%s", ap_escape_html(r->pool, spec->virtualenv));
    for (int i = 0; i < spec->python_path->nelts; i++)
        ap_rprintf(r, "%s%s", i ? ":" : ", python-path=",
                   ap_escape_html(r->pool, APR_ARRAY_IDX(spec->python_path, i, const char *)));
}

static void html_tables(request_rec *r, apr_array_header_t *pools)
{
    for (int i = 0; i < pools->nelts; i++) {
        pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
        si_pool_spec *spec = ps->pool->spec;
        ap_rprintf(r, "<h2>Pool %s <small>(%s, gil=%s", ap_escape_html(r->pool, ps->pool->name),
                   ap_escape_html(r->pool, vhost_of(r->pool, ps->pool)), si_gil_name(spec->gil));
        html_options(r, spec);
        ap_rputs(")</small></h2>\n<p><i>All children</i> since the last (re)start:", r);
        for (unsigned m = 0; m < SI_SERVER_STATS; m++)
            ap_rprintf(r, "%s %s %" APR_UINT64_T_FMT, m ? "," : "", server_stats[m].json,
                       si_stats_get(spec, server_stats[m].stat));
        ap_rprintf(r, ".</p>\n<p>This child: retired interpreters still ending: %d. Refused "
                   "(503): %" APR_UINT64_T_FMT ".</p>\n<table>\n<tr><th>Interpreter</th>"
                   "<th>State</th><th>Generation</th><th>Active</th><th>Served</th>"
                   "<th>Recycles</th><th>Average ms</th><th>Why</th></tr>\n", ps->retired,
                   ps->rejected);
        for (int k = 0; k < ps->pool->slot_count; k++) {
            slot_snapshot *ss = &ps->slots[k];
            const char *why = ss->failure ? ss->failure : spec->probe_failure;
            ap_rprintf(r, "<tr><td>%d</td><td class=\"%s\">%s</td><td>%" APR_UINT64_T_FMT
                       "</td><td>%d</td><td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT
                       "</td><td>%.2f</td><td class=\"why\">%s</td></tr>\n", k,
                       slot_state(ps->pool, ss), slot_state(ps->pool, ss), ss->generation,
                       ss->active, ss->served, ss->recycles, ss->avg_ms,
                       why ? ap_escape_html(r->pool, why) : "");
        }
        ap_rprintf(r, "</table>\n<p>Shared cache (this child): %" APR_UINT64_T_FMT " keys, %"
                   APR_UINT64_T_FMT " of %" APR_UINT64_T_FMT " bytes, %" APR_UINT64_T_FMT
                   " hits, %" APR_UINT64_T_FMT " misses, %" APR_UINT64_T_FMT " evicted, %"
                   APR_UINT64_T_FMT " expired; %" APR_UINT64_T_FMT " queue(s).</p>\n",
                   (apr_uint64_t)ps->shared.entries, (apr_uint64_t)ps->shared.bytes,
                   (apr_uint64_t)ps->shared.limit, (apr_uint64_t)ps->shared.hits,
                   (apr_uint64_t)ps->shared.misses, (apr_uint64_t)ps->shared.evictions,
                   (apr_uint64_t)ps->shared.expired, (apr_uint64_t)ps->shared.queues);
    }
}

static void send_html(request_rec *r, apr_array_header_t *pools, apr_int64_t rss)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mod_subinterp "
               "status</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-"
               "collapse:collapse}th,td{border:1px solid #999;padding:.3em .8em;text-align:right}"
               "th{background:#eee}td.ready{color:#080}td.down{color:#b00}td.starting{color:#a60}"
               "td.failed{color:#b00;font-weight:bold}td.why,td.name{text-align:left}"
               "td.why{font-family:monospace}</style></head>\n"
               "<body><h1>mod_subinterp %s</h1>\n<p>This page comes from <b>child %"
               APR_PID_T_FMT "</b> of this server (Python %s, resident memory %.1f MiB, up %"
               APR_TIME_T_FMT " s). Each child runs its own interpreters and answers for them; "
               "the figures marked <i>all children</i> are server-wide. Reloading may reach "
               "another child: Apache gives each connection to whichever child accepts it "
               "(<code>Connection: close</code> per request, or mod_status's scoreboard, shows "
               "the others). Formats: <a href=\"?json\">JSON</a>, <a href=\"?prometheus\">"
               "Prometheus</a>.</p>\n", SI_VERSION, getpid(),
               ap_escape_html(r->pool, Py_GetVersion()), rss / 1048576.0,
               apr_time_sec(apr_time_now() - si_runtime_started()));
    if (pools->nelts == 0)
        ap_rputs("<p>No pools run in this child.</p>\n", r);
    else
        html_summary(r, pools);
    html_tables(r, pools);
    si_status_procs_html(r);
    ap_rputs("</body></html>\n", r);
}

int si_status_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, SI_STATUS_HANDLER) != 0)
        return DECLINED;
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        ap_set_content_type(r, "text/html; charset=utf-8");
        return OK;
    }
    apr_array_header_t *pools = snapshot(r->pool);
    apr_int64_t rss = resident_bytes();
    const char *format = r->args ? r->args : "";
    if (strcmp(format, "json") == 0)
        send_json(r, pools, rss);
    else if (strcmp(format, "prometheus") == 0)
        send_prometheus(r, pools, rss);
    else
        send_html(r, pools, rss);
    return OK;
}

int si_status_hook(request_rec *r, int flags)
{
    apr_array_header_t *pools = snapshot(r->pool);
    if (flags & AP_STATUS_SHORT) {
        for (int i = 0; i < pools->nelts; i++) {
            pool_snapshot *ps = &APR_ARRAY_IDX(pools, i, pool_snapshot);
            apr_uint64_t served = 0;
            int active = 0;
            for (int k = 0; k < ps->pool->slot_count; k++) {
                served += ps->slots[k].served;
                active += ps->slots[k].active;
            }
            ap_rprintf(r, "SubinterpPool %s: interpreters=%d active=%d served=%" APR_UINT64_T_FMT
                       " retired=%d\n", ps->pool->name, ps->pool->slot_count, active, served,
                       ps->retired);
        }
        return OK;
    }
    ap_rputs("<hr />\n<h1>mod_subinterp</h1>\n", r);
    html_tables(r, pools);
    return OK;
}
