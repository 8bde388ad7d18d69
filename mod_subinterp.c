/* mod_subinterp.c — serves WSGI apps from pools of own-GIL Python sub-interpreters.
 *
 * This file only wires Apache's hooks and directives to the code in src/: configuration
 * (si_config), the child's Python runtime (si_runtime), and requests (si_request).
 */
#define SI_DECLARES_MODULE
#include "si_common.h"
#include "si_config.h"
#include "si_runtime.h"
#include "si_request.h"
#include "si_status.h"
#include "si_auth.h"
#include "si_probe.h"
#include "si_stats.h"
#include "si_procpool.h"
#include "si_procserve.h"
#include "si_procforward.h"

#include "ap_mpm.h"
#include "mod_status.h"
#include "mpm_common.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

/* Claims URLs under a SubinterpScriptAlias once mod_alias had its turn, so `Alias /static/` and
 * `Redirect` still apply below a mount at "/" (as with mod_wsgi).  The script file becomes
 * r->filename (plus the rest of the path, which the core's directory walk turns into path_info),
 * so <Directory> access control applies to the script as it does for ScriptAlias. */
static int si_translate_name(request_rec *r)
{
    if (!r->uri || r->uri[0] != '/')
        return DECLINED;
    si_mount_conf *mount = si_config_match(r->server, r->uri);
    if (!mount)
        return DECLINED;
    ap_set_module_config(r->request_config, &subinterp_module, mount);
    r->filename = apr_pstrcat(r->pool, mount->script, r->uri + strlen(mount->url), NULL);
    r->handler = SI_HANDLER;
    return OK;
}

/* A process pool's requests go to its processes; every other pool runs in this child. */
static int si_dispatch(request_rec *r, si_mount_conf *mount)
{
    return mount->pool_spec->processes ? si_procforward_handle(r, mount)
                                       : si_request_handle(r, mount);
}

/* subinterp-script serves a mount claimed above, or else the file Apache mapped the URL to
 * (SetHandler / AddHandler subinterp-script, as mod_wsgi's wsgi-script); any other handler
 * name may belong to a SubinterpHandlerScript. */
static int si_handler(request_rec *r)
{
    if (!r->handler)
        return DECLINED;
    if (strcmp(r->handler, SI_HANDLER) == 0) {
        si_mount_conf *mount = ap_get_module_config(r->request_config, &subinterp_module);
        return mount ? si_dispatch(r, mount) : si_request_handle_file(r);
    }
    si_mount_conf *handler = si_config_handler(r->server, r->handler);
    return handler ? si_dispatch(r, handler) : DECLINED;
}

/* check_config runs after virtual hosts are merged and also for `apachectl -t`, so a
 * configuration test reports an unknown pool just as a start does. */
static int si_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    if (si_config_resolve(pconf, s) != APR_SUCCESS
        || si_probe_scripts_readable(ptemp, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    /* Refused rather than tolerated: a pool exists to run requests in parallel, and nothing of
     * ours (the maintenance threads, request timeouts, recycling) is tested on prefork. */
    int threaded = 0;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS && !threaded
        && si_config_pool_specs(ptemp, s)->nelts > 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "SI0111: the %s MPM runs one request per "
                     "process, and mod_subinterp needs a threaded MPM: use event (a2dismod "
                     "mpm_%s; a2enmod mpm_event) or worker", ap_show_mpm(), ap_show_mpm());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Two embedders of libpython in one process (Debian's mod_wsgi links 3.11, we 3.13) share
     * symbols and thread-state globals: every child aborted at exit ("PyEval_AcquireThread:
     * the function must be called with the GIL held").  Installing libapache2-mod-wsgi-py3
     * enables it, which is where a migration starts. */
    for (module *m = ap_top_module; m; m = m->next)
        if (m != &subinterp_module && m->name && strstr(m->name, "mod_wsgi.c")) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "SI0117: mod_wsgi is loaded too (%s); "
                         "two modules that embed Python cannot share an Apache process.  "
                         "Disable it (a2dismod wsgi) or remove its LoadModule line; "
                         "docs/migration-from-mod_wsgi.md maps its directives onto ours",
                         m->name);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    return OK;
}

/* Every child loads every pool, so the MPM's process limit multiplies the interpreters (and their
 * memory): Debian's stock event MPM (MaxRequestWorkers 150, ThreadsPerChild 25) may run 6
 * children.  Said once per start with the numbers, since nothing fails until memory runs out. */
#define SI_INTERPRETERS_PER_CORE 2

static void warn_about_mpm_sizing(apr_pool_t *ptemp, server_rec *s)
{
    int children = 0, per_child = 0, cores = si_online_cpus();
    apr_array_header_t *specs = si_config_pool_specs(ptemp, s);
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        per_child += spec->mounts->nelts > 0 && !spec->processes ? spec->interpreters : 0;
    }
    if (per_child == 0 || ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &children) != APR_SUCCESS
        || children * per_child <= cores * SI_INTERPRETERS_PER_CORE)
        return;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SI0119: the %s MPM may run up to %d "
                 "children (MaxRequestWorkers / ThreadsPerChild), and each loads every pool: %d "
                 "interpreter(s) per child, so up to %d on %d CPU core(s).  Fewer, larger "
                 "children run the same load with less memory and start-up: see \"Sizing the "
                 "MPM\" in docs/configuration.md", ap_show_mpm(), children, per_child,
                 children * per_child, cores);
}

static int si_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    for (server_rec *vs = s; vs; vs = vs->next) {
        si_server_conf *conf = si_server_config(vs);
        for (int i = 0; i < conf->pool_specs->nelts; i++) {
            si_pool_spec *spec = APR_ARRAY_IDX(conf->pool_specs, i, si_pool_spec *);
            if (spec->server == vs && spec->mounts->nelts == 0)
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, vs, "SI0112: SubinterpPool %s (%s) "
                             "has no SubinterpScriptAlias; no interpreters are made for it",
                             spec->name, spec->defined_at);
        }
    }
    /* Not in the dry run: probes run once per start or restart, before children fork. */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        warn_about_mpm_sizing(ptemp, s);
        si_stats_create(pconf, s);
        si_probe_pools(pconf, ptemp, s);
        si_procpool_start(pconf, s);
    }
    ap_add_version_component(pconf, "mod_subinterp/" SI_VERSION);
    return OK;
}

static void si_child_init(apr_pool_t *pchild, server_rec *s)
{
    si_procpool_child_init();
    si_runtime_child_init(pchild, s);
}

static void si_register_hooks(apr_pool_t *p)
{
    static const char *const after_alias[] = {"mod_alias.c", NULL};
    ap_hook_translate_name(si_translate_name, after_alias, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(si_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(si_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, si_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(si_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(si_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(si_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(si_procpool_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    si_procserve_register(p);
    si_auth_register(p);
}

AP_DECLARE_MODULE(subinterp) = {
    STANDARD20_MODULE_STUFF,
    si_config_create_dir,
    si_config_merge_dir,
    si_config_create_server,
    si_config_merge_server,
    si_directives,
    si_register_hooks,
    AP_MODULE_FLAG_ALWAYS_MERGE,
};
