/* si_config.c — directives, config records and their merge, start-up validation.
 *
 * Everything here runs in the Apache parent and must not touch Python: the parent never
 * initializes it.  Directive handlers reject what they can see alone (bad option, bad number,
 * missing file); si_config_resolve() checks what needs the whole configuration (unknown pool).
 */
#include "si_config.h"

#include <unistd.h>

#define SI_UNSET (-1)

si_server_conf *si_server_config(server_rec *s)
{
    return ap_get_module_config(s->module_config, &subinterp_module);
}

const char *si_gil_name(si_gil_mode gil)
{
    return gil == SI_GIL_OWN ? "own" : gil == SI_GIL_SHARED ? "shared" : "main";
}

void *si_config_create_server(apr_pool_t *p, server_rec *s)
{
    si_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->pools = apr_array_make(p, 4, sizeof(si_pool_conf *));
    conf->mounts = apr_array_make(p, 4, sizeof(si_mount_conf *));
    conf->python_path = apr_array_make(p, 2, sizeof(const char *));
    conf->reloading = SI_UNSET;
    return conf;
}

void *si_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    si_server_conf *base = basev, *add = addv;
    si_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    /* Pools are never inherited: a pool name is scoped to the block that declares it. */
    conf->pools = add->pools;
    /* Mounts are, like mod_alias's aliases; our own come first so they win a tie. */
    conf->mounts = apr_array_append(p, add->mounts, base->mounts);
    conf->reloading = add->reloading != SI_UNSET ? add->reloading : base->reloading;
    conf->python_home = base->python_home;
    conf->python_path = base->python_path;
    return conf;
}

void *si_config_create_dir(apr_pool_t *p, char *dir)
{
    si_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->pass_authorization = SI_UNSET;
    return conf;
}

void *si_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    si_dir_conf *base = basev, *add = addv;
    si_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->pass_authorization = add->pass_authorization != SI_UNSET ? add->pass_authorization
                                                                    : base->pass_authorization;
    return conf;
}

static const char *defined_at(cmd_parms *cmd)
{
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
}

static int is_directory(apr_pool_t *p, const char *path)
{
    apr_finfo_t finfo;
    return apr_stat(&finfo, path, APR_FINFO_TYPE, p) == APR_SUCCESS && finfo.filetype == APR_DIR;
}

/* Parses a decimal number within [min, max]; NULL on success, else a message. */
static const char *parse_number(apr_pool_t *p, const char *option, const char *text,
                                double min, double max, int whole, double *out)
{
    char *end;
    errno = 0;
    double v = whole ? (double)strtol(text, &end, 10) : strtod(text, &end);
    if (!*text || *end || errno)
        return apr_psprintf(p, "SI0102: option %s=%s is not a %s", option, text,
                            whole ? "whole number" : "number");
    if (v < min || v > max)
        return apr_psprintf(p, "SI0102: option %s=%s is out of range (%g to %g)", option, text,
                            min, max);
    *out = v;
    return NULL;
}

static const char *parse_path_list(cmd_parms *cmd, const char *what, const char *text,
                                   apr_array_header_t *into)
{
    char *copy = apr_pstrdup(cmd->pool, text), *state = NULL;
    for (char *dir = apr_strtok(copy, ":", &state); dir; dir = apr_strtok(NULL, ":", &state)) {
        if (!is_directory(cmd->temp_pool, dir))
            return apr_psprintf(cmd->pool, "SI0103: %s: directory '%s' does not exist", what, dir);
        APR_ARRAY_PUSH(into, const char *) = dir;
    }
    return NULL;
}

static si_pool_conf *pool_new(apr_pool_t *p, server_rec *s, const char *name, const char *where)
{
    si_pool_conf *pool = apr_pcalloc(p, sizeof(*pool));
    pool->name = name;
    pool->server = s;
    pool->defined_at = where;
    pool->gil = SI_GIL_OWN;
    pool->python_path = apr_array_make(p, 2, sizeof(const char *));
    pool->queue_timeout = apr_time_from_sec(30);
    pool->mounts = apr_array_make(p, 2, sizeof(si_mount_conf *));
    return pool;
}

static si_pool_conf *pool_find(si_server_conf *conf, const char *name)
{
    for (int i = 0; i < conf->pools->nelts; i++) {
        si_pool_conf *pool = APR_ARRAY_IDX(conf->pools, i, si_pool_conf *);
        if (!pool->implicit && strcmp(pool->name, name) == 0)
            return pool;
    }
    return NULL;
}

static const char *apply_pool_option(cmd_parms *cmd, si_pool_conf *pool, const char *key,
                                     const char *value)
{
    double n;
    const char *err;
    if (strcmp(key, "interpreters") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 256, 1, &n)))
            return err;
        pool->interpreters = (int)n;
    }
    else if (strcmp(key, "gil") == 0) {
        if (strcmp(value, "own") == 0)
            pool->gil = SI_GIL_OWN;
        else if (strcmp(value, "shared") == 0)
            pool->gil = SI_GIL_SHARED;
        else if (strcmp(value, "main") == 0)
            pool->gil = SI_GIL_MAIN;
        else
            return apr_psprintf(cmd->pool, "SI0102: option gil=%s: expected own, shared or main",
                                value);
    }
    else if (strcmp(key, "python-path") == 0) {
        return parse_path_list(cmd, "python-path", value, pool->python_path);
    }
    else if (strcmp(key, "virtualenv") == 0) {
        const char *site = apr_psprintf(cmd->pool, "%s/lib/python%d.%d/site-packages", value,
                                        PY_MAJOR_VERSION, PY_MINOR_VERSION);
        if (!is_directory(cmd->temp_pool, site))
            return apr_psprintf(cmd->pool, "SI0103: virtualenv=%s: no %s (a Python %d.%d venv?)",
                                value, site, PY_MAJOR_VERSION, PY_MINOR_VERSION);
        pool->virtualenv = apr_pstrdup(cmd->pool, value);
    }
    else if (strcmp(key, "max-active") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 100000, 1, &n)))
            return err;
        pool->max_active = (int)n;
    }
    else if (strcmp(key, "queue-timeout") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 0, 3600, 0, &n)))
            return err;
        pool->queue_timeout = (apr_interval_time_t)(n * APR_USEC_PER_SEC);
    }
    else if (strcmp(key, "request-timeout") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 0.1, 86400, 0, &n)))
            return err;
        pool->request_timeout = (apr_interval_time_t)(n * APR_USEC_PER_SEC);
    }
    else if (strcmp(key, "max-requests") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 1e9, 1, &n)))
            return err;
        pool->max_requests = (int)n;
    }
    else if (strcmp(key, "preload") == 0) {
        if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
            return apr_psprintf(cmd->pool, "SI0102: option preload=%s: expected on or off", value);
        pool->lazy = strcmp(value, "off") == 0;
    }
    else {
        return apr_psprintf(cmd->pool,
                            "SI0101: unknown option '%s' (known: interpreters, gil, python-path, "
                            "virtualenv, max-active, queue-timeout, request-timeout, "
                            "max-requests, preload)", key);
    }
    return NULL;
}

/* SubinterpPool NAME [option=value ...] */
static const char *cmd_pool(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    si_server_conf *conf = si_server_config(cmd->server);
    if (argc < 1)
        return "SI0101: SubinterpPool needs a pool name";
    if (strchr(argv[0], '='))
        return apr_psprintf(cmd->pool, "SI0101: SubinterpPool: '%s' is not a pool name "
                            "(the name comes first, then option=value pairs)", argv[0]);
    if (pool_find(conf, argv[0]))
        return apr_psprintf(cmd->pool, "SI0105: SubinterpPool %s is already declared in this "
                            "server or virtual host", argv[0]);
    si_pool_conf *pool = pool_new(cmd->pool, cmd->server, apr_pstrdup(cmd->pool, argv[0]),
                                  defined_at(cmd));
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return apr_psprintf(cmd->pool, "SI0101: SubinterpPool %s: '%s' is not option=value",
                                pool->name, argv[i]);
        const char *key = apr_pstrmemdup(cmd->temp_pool, argv[i], eq - argv[i]);
        const char *err = apply_pool_option(cmd, pool, key, eq + 1);
        if (err)
            return apr_psprintf(cmd->pool, "SubinterpPool %s: %s", pool->name, err);
    }
    if (pool->gil == SI_GIL_MAIN && pool->max_requests)
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: gil=main cannot be recycled "
                            "(max-requests): the main interpreter cannot be replaced", pool->name);
    if (pool->gil == SI_GIL_MAIN && pool->interpreters > 1)
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: gil=main runs in the one main "
                            "interpreter; interpreters=%d is not possible", pool->name,
                            pool->interpreters);
    APR_ARRAY_PUSH(conf->pools, si_pool_conf *) = pool;
    return NULL;
}

/* SubinterpScriptAlias URL-PATH FILE [pool=NAME] [callable=NAME] */
static const char *cmd_script_alias(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    si_server_conf *conf = si_server_config(cmd->server);
    if (argc < 2)
        return "SI0106: SubinterpScriptAlias needs a URL path and a script file";
    if (argv[0][0] != '/')
        return apr_psprintf(cmd->pool, "SI0106: SubinterpScriptAlias: URL path '%s' must start "
                            "with /", argv[0]);

    si_mount_conf *mount = apr_pcalloc(cmd->pool, sizeof(*mount));
    char *url = apr_pstrdup(cmd->pool, argv[0]);
    for (size_t len = strlen(url); len > 0 && url[len - 1] == '/'; len--)
        url[len - 1] = '\0';
    mount->url = url;
    mount->script = ap_server_root_relative(cmd->pool, argv[1]);
    mount->callable = "application";
    mount->server = cmd->server;
    mount->defined_at = defined_at(cmd);

    apr_finfo_t finfo;
    if (!mount->script || apr_stat(&finfo, mount->script, APR_FINFO_TYPE, cmd->temp_pool)
                              != APR_SUCCESS || finfo.filetype != APR_REG)
        return apr_psprintf(cmd->pool, "SI0107: SubinterpScriptAlias %s: script file '%s' does "
                            "not exist or is not a regular file", argv[0], argv[1]);

    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "pool=", 5) == 0 && argv[i][5])
            mount->pool_name = apr_pstrdup(cmd->pool, argv[i] + 5);
        else if (strncmp(argv[i], "callable=", 9) == 0 && argv[i][9])
            mount->callable = apr_pstrdup(cmd->pool, argv[i] + 9);
        else
            return apr_psprintf(cmd->pool, "SI0101: SubinterpScriptAlias %s: unknown option '%s' "
                                "(known: pool=NAME, callable=NAME)", argv[0], argv[i]);
    }
    for (int i = 0; i < conf->mounts->nelts; i++) {
        si_mount_conf *other = APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *);
        if (other->server == cmd->server && strcmp(other->url, mount->url) == 0)
            return apr_psprintf(cmd->pool, "SI0108: SubinterpScriptAlias %s is already mounted "
                                "at %s", argv[0], other->defined_at);
    }
    APR_ARRAY_PUSH(conf->mounts, si_mount_conf *) = mount;
    return NULL;
}

static const char *cmd_python_home(cmd_parms *cmd, void *dummy, const char *dir)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    if (!is_directory(cmd->temp_pool, dir))
        return apr_psprintf(cmd->pool, "SI0103: SubinterpPythonHome: directory '%s' does not "
                            "exist", dir);
    si_server_config(cmd->server)->python_home = apr_pstrdup(cmd->pool, dir);
    return NULL;
}

static const char *cmd_python_path(cmd_parms *cmd, void *dummy, const char *dirs)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    return parse_path_list(cmd, "SubinterpPythonPath", dirs,
                           si_server_config(cmd->server)->python_path);
}

static const char *cmd_reloading(cmd_parms *cmd, void *dummy, int on)
{
    si_server_config(cmd->server)->reloading = on;
    return NULL;
}

static const char *cmd_pass_authorization(cmd_parms *cmd, void *dirconf, int on)
{
    ((si_dir_conf *)dirconf)->pass_authorization = on;
    return NULL;
}

const command_rec si_directives[] = {
    AP_INIT_TAKE1("SubinterpPythonHome", cmd_python_home, NULL, RSRC_CONF,
                  "sys.prefix of the embedded Python runtime"),
    AP_INIT_TAKE1("SubinterpPythonPath", cmd_python_path, NULL, RSRC_CONF,
                  "directories (colon separated) prepended to sys.path in every interpreter"),
    AP_INIT_TAKE_ARGV("SubinterpPool", cmd_pool, NULL, RSRC_CONF,
                      "NAME [interpreters=N] [gil=own|shared|main] [python-path=DIR:DIR] "
                      "[virtualenv=DIR] [max-active=N] [queue-timeout=SEC] "
                      "[request-timeout=SEC] [max-requests=N]"),
    AP_INIT_TAKE_ARGV("SubinterpScriptAlias", cmd_script_alias, NULL, RSRC_CONF,
                      "URL-PATH FILE [pool=NAME] [callable=NAME]"),
    AP_INIT_FLAG("SubinterpScriptReloading", cmd_reloading, NULL, RSRC_CONF,
                 "On to rebuild a pool's interpreters when a mounted script changes"),
    AP_INIT_FLAG("SubinterpPassAuthorization", cmd_pass_authorization, NULL, OR_AUTHCFG | RSRC_CONF,
                 "On to pass the Authorization header to apps as HTTP_AUTHORIZATION"),
    {NULL}
};

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

apr_status_t si_config_resolve(apr_pool_t *p, server_rec *main_server)
{
    apr_status_t status = APR_SUCCESS;
    int sequence = 0;
    for (server_rec *s = main_server; s; s = s->next) {
        si_server_conf *conf = si_server_config(s);
        for (int i = 0; i < conf->mounts->nelts; i++) {
            si_mount_conf *mount = APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *);
            if (mount->server != s || mount->pool)
                continue;   /* inherited, or resolved by an earlier pass */
            if (mount->pool_name) {
                mount->pool = pool_find(conf, mount->pool_name);
                if (!mount->pool) {
                    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                                 "SI0110: SubinterpScriptAlias %s (%s): unknown pool '%s'; "
                                 "declare it with SubinterpPool in the same server or "
                                 "virtual host", mount->url[0] ? mount->url : "/",
                                 mount->defined_at, mount->pool_name);
                    status = APR_EINVAL;
                    continue;
                }
            }
            else {
                mount->pool = pool_new(p, s, mount->url[0] ? mount->url : "/",
                                       mount->defined_at);
                mount->pool->implicit = 1;
                APR_ARRAY_PUSH(conf->pools, si_pool_conf *) = mount->pool;
            }
            mount->index = mount->pool->mounts->nelts;
            mount->module_name = apr_psprintf(p, "_subinterp_app_%d", sequence++);
            APR_ARRAY_PUSH(mount->pool->mounts, si_mount_conf *) = mount;
        }
        for (int i = 0; i < conf->pools->nelts; i++) {
            si_pool_conf *pool = APR_ARRAY_IDX(conf->pools, i, si_pool_conf *);
            if (pool->interpreters == 0)
                pool->interpreters = pool->gil == SI_GIL_OWN ? online_cpus() : 1;
            pool->reloading = conf->reloading == 1;
        }
    }
    return status;
}

apr_array_header_t *si_config_all_pools(apr_pool_t *p, server_rec *main_server)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(si_pool_conf *));
    for (server_rec *s = main_server; s; s = s->next) {
        si_server_conf *conf = si_server_config(s);
        for (int i = 0; i < conf->pools->nelts; i++) {
            si_pool_conf *pool = APR_ARRAY_IDX(conf->pools, i, si_pool_conf *);
            if (pool->server == s && pool->mounts->nelts > 0)
                APR_ARRAY_PUSH(all, si_pool_conf *) = pool;
        }
    }
    return all;
}

si_mount_conf *si_config_match(server_rec *s, const char *uri)
{
    si_server_conf *conf = si_server_config(s);
    si_mount_conf *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < conf->mounts->nelts; i++) {
        si_mount_conf *mount = APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *);
        size_t len = strlen(mount->url);
        if (strncmp(uri, mount->url, len) != 0 || (uri[len] != '\0' && uri[len] != '/'))
            continue;
        if (!best || len > best_len) {
            best = mount;
            best_len = len;
        }
    }
    return best;
}
