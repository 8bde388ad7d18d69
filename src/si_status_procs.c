/* si_status_procs.c — process pools on the status page (see si_status_procs.h). */
#include "si_status_procs.h"
#include "si_config.h"
#include "si_stats.h"
#include "si_status_text.h"

#include "http_main.h"
#include "http_protocol.h"

static const char *const state_names[] = {"down", "starting", "ready", "stopping", "recycling"};

static const char *state_name(int state)
{
    return state >= 0 && state <= SI_PROC_RECYCLING ? state_names[state] : "unknown";
}

static apr_array_header_t *process_pools(apr_pool_t *p)
{
    apr_array_header_t *specs = si_config_pool_specs(p, ap_server_conf);
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(si_pool_spec *));
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        if (spec->processes)
            APR_ARRAY_PUSH(out, si_pool_spec *) = spec;
    }
    return out;
}

typedef struct {
    pid_t pid;
    int state;
    apr_uint32_t restarts, active;
    apr_uint64_t requests;
    apr_time_t started;
    const char *failure;            /* NULL: none */
} proc_view;

static proc_view view(apr_pool_t *p, const si_pool_spec *spec, int k)
{
    si_stats_proc *row = si_stats_process(spec, k);
    if (!row)
        return (proc_view){0};
    proc_view v = {atomic_load(&row->pid), atomic_load(&row->state),
                   atomic_load(&row->restarts), atomic_load(&row->active),
                   atomic_load(&row->requests), atomic_load(&row->started), NULL};
    if (v.state == SI_PROC_READY && row->failure[0])   /* written before READY was stored */
        v.failure = apr_pstrndup(p, row->failure, sizeof(row->failure));
    return v;
}

static const char *shown_state(const proc_view *v)
{
    return v->failure ? "failed" : state_name(v->state);
}

void si_status_procs_json(request_rec *r)
{
    apr_array_header_t *pools = process_pools(r->pool);
    ap_rputs(", \"process_pools\": [", r);
    for (int i = 0; i < pools->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(pools, i, si_pool_spec *);
        ap_rprintf(r, "%s{\"name\": %s, \"vhost\": %s, \"gil\": \"%s\", \"threads\": %d, "
                   "\"user\": %s", i ? ", " : "", si_status_json(r->pool, spec->name),
                   si_status_json(r->pool, si_status_vhost(r->pool, spec)), si_gil_name(spec->gil),
                   spec->threads, si_status_json(r->pool, spec->user ? spec->user : ""));
        if (spec->unavailable)
            ap_rprintf(r, ", \"failure\": %s", si_status_json(r->pool, spec->unavailable));
        ap_rputs(", \"processes\": [", r);
        for (int k = 0; k < spec->processes; k++) {
            proc_view v = view(r->pool, spec, k);
            ap_rprintf(r, "%s{\"index\": %d, \"pid\": %ld, \"state\": \"%s\", \"restarts\": %u, "
                       "\"requests\": %" APR_UINT64_T_FMT ", \"active\": %u, "
                       "\"uptime_seconds\": %" APR_TIME_T_FMT, k ? ", " : "", k,
                       (long)v.pid, shown_state(&v), v.restarts, v.requests, v.active,
                       v.started ? apr_time_sec(apr_time_now() - v.started) : 0);
            if (v.failure)
                ap_rprintf(r, ", \"error\": %s", si_status_json(r->pool, v.failure));
            ap_rputs("}", r);
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]", r);
}

void si_status_procs_prometheus(request_rec *r)
{
    apr_array_header_t *pools = process_pools(r->pool);
    if (pools->nelts == 0)
        return;
    static const char *const metrics[][3] = {
        {"process_up", "gauge", "1 while the process pool's process takes requests."},
        {"process_active", "gauge", "Requests the process runs now."},
        {"process_requests_total", "counter", "Requests this process slot served."},
        {"process_restarts_total", "counter", "Deaths the supervisor replaced it after."},
    };
    for (unsigned m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        ap_rprintf(r, "# HELP mod_subinterp_%s %s\n# TYPE mod_subinterp_%s %s\n", metrics[m][0],
                   metrics[m][2], metrics[m][0], metrics[m][1]);
        for (int i = 0; i < pools->nelts; i++) {
            si_pool_spec *spec = APR_ARRAY_IDX(pools, i, si_pool_spec *);
            for (int k = 0; k < spec->processes; k++) {
                proc_view v = view(r->pool, spec, k);
                apr_uint64_t value = m == 0 ? v.state == SI_PROC_READY && !v.failure
                                     : m == 1 ? v.active
                                     : m == 2 ? v.requests : v.restarts;
                ap_rprintf(r, "mod_subinterp_%s{pool=\"%s\",vhost=\"%s\",process=\"%d\"} %"
                           APR_UINT64_T_FMT "\n", metrics[m][0],
                           si_status_label(r->pool, spec->name),
                           si_status_label(r->pool, si_status_vhost(r->pool, spec)), k, value);
            }
        }
    }
}

void si_status_procs_html(request_rec *r)
{
    apr_array_header_t *pools = process_pools(r->pool);
    for (int i = 0; i < pools->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(pools, i, si_pool_spec *);
        ap_rprintf(r, "<h2>Process pool %s <small>(%s, processes=%d, threads=%d, gil=%s%s%s)"
                   "</small></h2>\n", ap_escape_html(r->pool, spec->name),
                   ap_escape_html(r->pool, si_status_vhost(r->pool, spec)), spec->processes,
                   spec->threads, si_gil_name(spec->gil), spec->user ? ", user=" : "",
                   spec->user ? ap_escape_html(r->pool, spec->user) : "");
        if (spec->unavailable)
            ap_rprintf(r, "<p class=\"failed\">No processes: %s</p>\n",
                       ap_escape_html(r->pool, spec->unavailable));
        ap_rputs("<table><tr><th>process</th><th>pid</th><th>state</th><th>active</th>"
                 "<th>requests</th><th>restarts</th><th>up (s)</th><th>why</th></tr>\n", r);
        for (int k = 0; k < spec->processes; k++) {
            proc_view v = view(r->pool, spec, k);
            const char *state = shown_state(&v);
            ap_rprintf(r, "<tr><td>%d</td><td>%ld</td><td class=\"%s\">%s</td><td>%u</td><td>%"
                       APR_UINT64_T_FMT "</td><td>%u</td><td>%" APR_TIME_T_FMT "</td>"
                       "<td class=\"why\">%s</td></tr>\n", k, (long)v.pid,
                       v.failure ? "failed" : v.state == SI_PROC_READY ? "ready" : "down", state,
                       v.active, v.requests, v.restarts,
                       v.started ? apr_time_sec(apr_time_now() - v.started) : 0,
                       v.failure ? ap_escape_html(r->pool, v.failure) : "");
        }
        ap_rputs("</table>\n", r);
    }
}
