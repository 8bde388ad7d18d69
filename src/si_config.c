/* si_config.c — directives, config records and their merge, start-up validation.
 *
 * Everything here runs in the Apache parent and must not touch Python: the parent never
 * initializes it.  Directive handlers reject what they can see alone (bad option, bad number,
 * missing file); si_config_resolve() checks what needs the whole configuration (unknown pool).
 */
#include "si_config.h"
#include "si_proxy.h"
#include "si_status.h"

#include <grp.h>
#include <pwd.h>
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
    conf->pool_specs = apr_array_make(p, 4, sizeof(si_pool_spec *));
    conf->mounts = apr_array_make(p, 4, sizeof(si_mount_conf *));
    conf->handlers = apr_array_make(p, 2, sizeof(si_mount_conf *));
    conf->scripts = apr_array_make(p, 2, sizeof(si_mount_conf *));
    conf->pool_refs = apr_array_make(p, 2, sizeof(si_pool_ref *));
    conf->python_path = apr_array_make(p, 2, sizeof(const char *));
    conf->reloading = SI_UNSET;
    conf->probe = SI_UNSET;
    conf->utf8 = SI_UNSET;
    return conf;
}

void *si_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    si_server_conf *base = basev, *add = addv;
    si_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    /* Pools are never inherited: a pool name is scoped to the block that declares it. */
    conf->pool_specs = add->pool_specs;
    /* Mounts are, like mod_alias's aliases; our own come first so they win a tie. */
    conf->mounts = apr_array_append(p, add->mounts, base->mounts);
    conf->handlers = apr_array_append(p, add->handlers, base->handlers);
    conf->scripts = add->scripts;
    conf->pool_refs = add->pool_refs;
    conf->reloading = add->reloading != SI_UNSET ? add->reloading : base->reloading;
    conf->python_home = base->python_home;
    conf->python_path = base->python_path;
    conf->probe = base->probe;
    conf->utf8 = base->utf8;
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
    conf->auth_user = add->auth_user ? add->auth_user : base->auth_user;
    conf->auth_group = add->auth_group ? add->auth_group : base->auth_group;
    conf->access = add->access ? add->access : base->access;
    conf->handler_pool = add->handler_pool ? add->handler_pool : base->handler_pool;
    conf->callable = add->callable ? add->callable : base->callable;
    conf->trusted_proxies = add->trusted_proxies ? add->trusted_proxies : base->trusted_proxies;
    conf->trusted_headers = add->trusted_headers ? add->trusted_headers : base->trusted_headers;
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

/* BYTES with an optional K, M or G (powers of 1024): 0, or 64K to 1T. */
static const char *parse_size(cmd_parms *cmd, const char *option, const char *text,
                              apr_size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    double unit = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0
                  : *end == 'G' || *end == 'g' ? 1073741824.0 : 1.0;
    if (unit > 1.0)
        end++;
    if (!*text || *end || errno || !(v >= 0))
        return apr_psprintf(cmd->pool, "SI0102: option %s=%s is not a size (bytes, or a number "
                            "with K, M or G)", option, text);
    v *= unit;
    if (v != 0 && (v < 65536.0 || v > 1099511627776.0))
        return apr_psprintf(cmd->pool, "SI0102: option %s=%s is out of range (0 for none, or "
                            "64K to 1024G)", option, text);
    *out = (apr_size_t)v;
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

static si_pool_spec *spec_new(apr_pool_t *p, server_rec *s, const char *name, const char *where)
{
    si_pool_spec *spec = apr_pcalloc(p, sizeof(*spec));
    spec->name = name;
    spec->server = s;
    spec->defined_at = where;
    spec->gil = SI_GIL_OWN;
    spec->python_path = apr_array_make(p, 2, sizeof(const char *));
    spec->queue_timeout = apr_time_from_sec(30);
    spec->daemon_threads = 1;
    spec->cache_size = SI_DEFAULT_CACHE_SIZE;
    spec->ordinal = -1;
    spec->mounts = apr_array_make(p, 2, sizeof(si_mount_conf *));
    return spec;
}

static si_pool_spec *spec_find(si_server_conf *conf, const char *name)
{
    for (int i = 0; i < conf->pool_specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(conf->pool_specs, i, si_pool_spec *);
        if (!spec->implicit && strcmp(spec->name, name) == 0)
            return spec;
    }
    return NULL;
}

/* An on|off option value into *out (1 or 0). */
static const char *parse_on_off(cmd_parms *cmd, const char *key, const char *value, int *out)
{
    if (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)
        return apr_psprintf(cmd->pool, "SI0102: option %s=%s: expected on or off", key, value);
    *out = strcmp(value, "on") == 0;
    return NULL;
}

static const char *apply_pool_option(cmd_parms *cmd, si_pool_spec *spec, const char *key,
                                     const char *value)
{
    double n;
    const char *err;
    if (strcmp(key, "interpreters") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 256, 1, &n)))
            return err;
        spec->interpreters = (int)n;
    }
    else if (strcmp(key, "gil") == 0) {
        if (strcmp(value, "own") == 0)
            spec->gil = SI_GIL_OWN;
        else if (strcmp(value, "shared") == 0)
            spec->gil = SI_GIL_SHARED;
        else if (strcmp(value, "main") == 0)
            spec->gil = SI_GIL_MAIN;
        else
            return apr_psprintf(cmd->pool, "SI0102: option gil=%s: expected own, shared or main",
                                value);
        spec->gil_set = 1;
    }
    else if (strcmp(key, "processes") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 64, 1, &n)))
            return err;
        spec->processes = (int)n;
    }
    else if (strcmp(key, "threads") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 1000, 1, &n)))
            return err;
        spec->threads = (int)n;
    }
    else if (strcmp(key, "user") == 0) {
        struct passwd *pw = getpwnam(value);
        if (!pw)
            return apr_psprintf(cmd->pool, "SI0102: option user=%s: no such user", value);
        spec->user = apr_pstrdup(cmd->pool, value);
        spec->uid = pw->pw_uid;
        if (!spec->group)
            spec->gid = pw->pw_gid;
    }
    else if (strcmp(key, "group") == 0) {
        struct group *gr = getgrnam(value);
        if (!gr)
            return apr_psprintf(cmd->pool, "SI0102: option group=%s: no such group", value);
        spec->group = apr_pstrdup(cmd->pool, value);
        spec->gid = gr->gr_gid;
    }
    else if (strcmp(key, "python-path") == 0) {
        return parse_path_list(cmd, "python-path", value, spec->python_path);
    }
    else if (strcmp(key, "virtualenv") == 0) {
        const char *site = apr_psprintf(cmd->pool, "%s/lib/python%d.%d/site-packages", value,
                                        PY_MAJOR_VERSION, PY_MINOR_VERSION);
        if (!is_directory(cmd->temp_pool, site))
            return apr_psprintf(cmd->pool, "SI0103: virtualenv=%s: no %s (a Python %d.%d venv?)",
                                value, site, PY_MAJOR_VERSION, PY_MINOR_VERSION);
        spec->virtualenv = apr_pstrdup(cmd->pool, value);
    }
    else if (strcmp(key, "max-active") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 100000, 1, &n)))
            return err;
        spec->max_active = (int)n;
    }
    else if (strcmp(key, "queue-timeout") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 0, 3600, 0, &n)))
            return err;
        spec->queue_timeout = (apr_interval_time_t)(n * APR_USEC_PER_SEC);
    }
    else if (strcmp(key, "request-timeout") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 0.1, 86400, 0, &n)))
            return err;
        spec->request_timeout = (apr_interval_time_t)(n * APR_USEC_PER_SEC);
    }
    else if (strcmp(key, "max-requests") == 0) {
        if ((err = parse_number(cmd->pool, key, value, 1, 1e9, 1, &n)))
            return err;
        spec->max_requests = (int)n;
    }
    else if (strcmp(key, "preload") == 0) {
        int preload = 1;
        if ((err = parse_on_off(cmd, key, value, &preload)))
            return err;
        spec->lazy = !preload;
    }
    else if (strcmp(key, "cache-size") == 0) {
        return parse_size(cmd, key, value, &spec->cache_size);
    }
    else if (strcmp(key, "daemon-threads") == 0) {
        return parse_on_off(cmd, key, value, &spec->daemon_threads);
    }
    else if (strcmp(key, "cpu-affinity") == 0) {
        int on = 0;
        if (strcmp(value, "auto") == 0)
            spec->cpu_affinity = SI_AFFINITY_AUTO;
        else if (parse_on_off(cmd, key, value, &on))
            return apr_psprintf(cmd->pool, "SI0102: option %s=%s: expected on, off or auto",
                                key, value);
        else
            spec->cpu_affinity = on ? SI_AFFINITY_ON : SI_AFFINITY_OFF;
    }
    else {
        return apr_psprintf(cmd->pool, "SI0101: unknown option '%s'; SubinterpPool NAME takes "
                            SI_POOL_OPTIONS, key);
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
    if (spec_find(conf, argv[0]))
        return apr_psprintf(cmd->pool, "SI0105: SubinterpPool %s is already declared in this "
                            "server or virtual host", argv[0]);
    si_pool_spec *spec = spec_new(cmd->pool, cmd->server, apr_pstrdup(cmd->pool, argv[0]),
                                  defined_at(cmd));
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return apr_psprintf(cmd->pool, "SI0101: SubinterpPool %s: '%s' is not option=value",
                                spec->name, argv[i]);
        const char *key = apr_pstrmemdup(cmd->temp_pool, argv[i], eq - argv[i]);
        const char *err = apply_pool_option(cmd, spec, key, eq + 1);
        /* Every message starts with its code (what admins grep for): "SI0103: SubinterpPool
         * blog: virtualenv=...", not the pool's name first. */
        if (err && strncmp(err, "SI", 2) == 0 && strlen(err) > 8 && err[6] == ':')
            return apr_psprintf(cmd->pool, "%.6s: SubinterpPool %s:%s", err, spec->name, err + 7);
        if (err)
            return apr_psprintf(cmd->pool, "SubinterpPool %s: %s", spec->name, err);
    }
    if (!spec->processes && (spec->threads || spec->user || spec->group))
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: threads=, user= and group= "
                            "are options of a process pool: add processes=N", spec->name);
    if (spec->processes && !spec->gil_set)
        spec->gil = SI_GIL_MAIN;   /* every extension loads as in plain CPython */
    if (spec->processes && !spec->threads)
        spec->threads = SI_DEFAULT_PROCESS_THREADS;
    if (spec->gil == SI_GIL_MAIN && spec->max_requests && !spec->processes)
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: gil=main cannot be recycled "
                            "(max-requests): the main interpreter cannot be replaced (a "
                            "process pool's processes can: add processes=N)", spec->name);
    if (spec->cpu_affinity && spec->gil != SI_GIL_OWN)
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: cpu-affinity=%s needs "
                            "gil=own: interpreters that share one GIL would all be pinned for "
                            "nothing", spec->name,
                            spec->cpu_affinity == SI_AFFINITY_AUTO ? "auto" : "on");
    if (spec->gil == SI_GIL_MAIN && spec->interpreters > 1)
        return apr_psprintf(cmd->pool, "SI0102: SubinterpPool %s: gil=main runs in the one main "
                            "interpreter; interpreters=%d is not possible", spec->name,
                            spec->interpreters);
    APR_ARRAY_PUSH(conf->pool_specs, si_pool_spec *) = spec;
    return NULL;
}

/* FILE (relative to ServerRoot) as an absolute path to a regular file; `what` names the mount or
 * handler in the message, or is NULL. */
static const char *check_script_file(cmd_parms *cmd, const char *what, const char *file,
                                     const char **out)
{
    apr_finfo_t finfo;
    const char *path = ap_server_root_relative(cmd->pool, file);
    if (!path || apr_stat(&finfo, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || finfo.filetype != APR_REG)
        return apr_psprintf(cmd->pool, "SI0107: %s%s%s: script file '%s' does not exist or is "
                            "not a regular file", cmd->cmd->name, what ? " " : "",
                            what ? what : "", file);
    *out = path;
    return NULL;
}

/* The pool=NAME and callable=NAME options after a script directive's fixed arguments. */
static const char *script_options(cmd_parms *cmd, const char *what, int argc, char *const argv[],
                                  int first, si_mount_conf *script)
{
    for (int i = first; i < argc; i++) {
        if (strncmp(argv[i], "pool=", 5) == 0 && argv[i][5])
            script->pool_name = apr_pstrdup(cmd->pool, argv[i] + 5);
        else if (strncmp(argv[i], "callable=", 9) == 0 && argv[i][9])
            script->callable = apr_pstrdup(cmd->pool, argv[i] + 9);
        else
            return apr_psprintf(cmd->pool, "SI0101: %s %s: unknown option '%s' (known: "
                                "pool=NAME, callable=NAME)", cmd->cmd->name, what, argv[i]);
    }
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
    mount->kind = SI_SCRIPT_MOUNT;
    mount->url = url;
    mount->label = apr_pstrcat(cmd->pool, "mount ", url[0] ? url : "/", NULL);
    mount->callable = "application";
    mount->server = cmd->server;
    mount->defined_at = defined_at(cmd);
    const char *err;
    if ((err = check_script_file(cmd, argv[0], argv[1], &mount->script))
        || (err = script_options(cmd, argv[0], argc, argv, 2, mount)))
        return err;
    for (int i = 0; i < conf->mounts->nelts; i++) {
        si_mount_conf *other = APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *);
        if (other->server == cmd->server && strcmp(other->url, mount->url) == 0)
            return apr_psprintf(cmd->pool, "SI0108: SubinterpScriptAlias %s is already mounted "
                                "at %s", argv[0], other->defined_at);
    }
    APR_ARRAY_PUSH(conf->mounts, si_mount_conf *) = mount;
    return NULL;
}

/* An On|Off directive of the main server only; cmd->info is the int field's offset in
 * si_server_conf (the ap_set_flag_slot idiom, for server config). */
static const char *cmd_global_flag(cmd_parms *cmd, void *dummy, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    if (err)
        return err;
    *(int *)((char *)si_server_config(cmd->server) + (size_t)cmd->info) = on;
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
    /* The mod_wsgi habit (WSGIPythonHome pointing at a venv) would start Apache and then fail
     * every request: a venv is no Python installation. */
    apr_finfo_t finfo;
    if (apr_stat(&finfo, apr_pstrcat(cmd->temp_pool, dir, "/pyvenv.cfg", NULL), APR_FINFO_TYPE,
                 cmd->temp_pool) == APR_SUCCESS)
        return apr_psprintf(cmd->pool, "SI0114: SubinterpPythonHome %s is a virtualenv (it has "
                            "pyvenv.cfg), not a Python installation: remove SubinterpPythonHome "
                            "and write virtualenv=%s on the SubinterpPool that serves the app",
                            dir, dir);
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


/* The script record of a SubinterpAuthUserScript, SubinterpAuthGroupScript, SubinterpAccessScript
 * or SubinterpImportScript.  One file in one pool is loaded once, however many directives name
 * it: the same module answers check_password() and groups_for_user(). */
static const char *script_directive(cmd_parms *cmd, si_script_kind kind, int argc,
                                    char *const argv[], int pool_required, si_mount_conf **out)
{
    si_server_conf *conf = si_server_config(cmd->server);
    const char *path, *pool_name = NULL, *err;
    if (argc < 1)
        return apr_psprintf(cmd->pool, "SI0106: %s needs a script file", cmd->cmd->name);
    if ((err = check_script_file(cmd, NULL, argv[0], &path)))
        return err;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "pool=", 5) == 0 && argv[i][5])
            pool_name = apr_pstrdup(cmd->pool, argv[i] + 5);
        else
            return apr_psprintf(cmd->pool, "SI0101: %s %s: unknown option '%s' (known: "
                                "pool=NAME)", cmd->cmd->name, argv[0], argv[i]);
    }
    if (pool_required && !pool_name)
        return apr_psprintf(cmd->pool, "SI0106: %s %s needs pool=NAME: the pool whose "
                            "interpreters run it", cmd->cmd->name, argv[0]);
    for (int i = 0; i < conf->scripts->nelts; i++) {
        si_mount_conf *known = APR_ARRAY_IDX(conf->scripts, i, si_mount_conf *);
        if (known->kind == kind && strcmp(known->script, path) == 0
            && (pool_name ? known->pool_name && strcmp(known->pool_name, pool_name) == 0
                          : !known->pool_name)) {
            *out = known;
            return NULL;
        }
    }
    si_mount_conf *script = apr_pcalloc(cmd->pool, sizeof(*script));
    script->kind = kind;
    script->url = "";
    script->label = apr_psprintf(cmd->pool, "%s %s", cmd->cmd->name, argv[0]);
    script->script = path;
    script->pool_name = pool_name;
    script->server = cmd->server;
    script->defined_at = defined_at(cmd);
    APR_ARRAY_PUSH(conf->scripts, si_mount_conf *) = script;
    *out = script;
    return NULL;
}

/* SubinterpAuthUserScript / SubinterpAuthGroupScript / SubinterpAccessScript FILE [pool=NAME] */
static const char *cmd_hook_script(cmd_parms *cmd, void *dirconf, int argc, char *const argv[])
{
    /* cmd->info: the offset of the si_dir_conf field the directive sets */
    si_mount_conf **slot = (si_mount_conf **)((char *)dirconf + (size_t)cmd->info);
    return script_directive(cmd, SI_SCRIPT_HOOKS, argc, argv, 0, slot);
}

/* SubinterpImportScript FILE pool=NAME */
static const char *cmd_import_script(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    si_mount_conf *script;
    return script_directive(cmd, SI_SCRIPT_IMPORT, argc, argv, 1, &script);
}

/* SubinterpHandlerScript NAME FILE [pool=NAME] [callable=NAME] */
static const char *cmd_handler_script(cmd_parms *cmd, void *dummy, int argc, char *const argv[])
{
    si_server_conf *conf = si_server_config(cmd->server);
    const char *err;
    if (argc < 2)
        return "SI0106: SubinterpHandlerScript needs a handler name and a script file";
    if (strcmp(argv[0], SI_HANDLER) == 0
        || strcmp(argv[0], SI_STATUS_HANDLER) == 0)
        return apr_psprintf(cmd->pool, "SI0106: SubinterpHandlerScript: %s is a built-in "
                            "handler name; choose another", argv[0]);
    si_mount_conf *handler = apr_pcalloc(cmd->pool, sizeof(*handler));
    handler->kind = SI_SCRIPT_HANDLER;
    handler->url = "";
    handler->handler = apr_pstrdup(cmd->pool, argv[0]);
    handler->label = apr_psprintf(cmd->pool, "handler %s", argv[0]);
    handler->callable = "application";
    handler->server = cmd->server;
    handler->defined_at = defined_at(cmd);
    if ((err = check_script_file(cmd, argv[0], argv[1], &handler->script)))
        return err;
    if ((err = script_options(cmd, argv[0], argc, argv, 2, handler)))
        return err;
    for (int i = 0; i < conf->handlers->nelts; i++) {
        si_mount_conf *other = APR_ARRAY_IDX(conf->handlers, i, si_mount_conf *);
        if (other->server == cmd->server && strcmp(other->handler, handler->handler) == 0)
            return apr_psprintf(cmd->pool, "SI0108: SubinterpHandlerScript %s is already "
                                "defined at %s", argv[0], other->defined_at);
    }
    APR_ARRAY_PUSH(conf->handlers, si_mount_conf *) = handler;
    return NULL;
}

/* SubinterpHandlerPool NAME: where subinterp-script files of this directory run. */
static const char *cmd_handler_pool(cmd_parms *cmd, void *dirconf, const char *name)
{
    si_pool_ref *ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    ref->name = apr_pstrdup(cmd->pool, name);
    ref->server = cmd->server;
    ref->defined_at = defined_at(cmd);
    ((si_dir_conf *)dirconf)->handler_pool = ref;
    APR_ARRAY_PUSH(si_server_config(cmd->server)->pool_refs, si_pool_ref *) = ref;
    return NULL;
}

/* SubinterpTrustedProxies ADDRESS|CIDR ... */
static const char *cmd_trusted_proxies(cmd_parms *cmd, void *dirconf, const char *arg)
{
    si_dir_conf *dir = dirconf;
    char *address = apr_pstrdup(cmd->temp_pool, arg), *mask = strchr(address, '/');
    apr_ipsubnet_t *subnet;
    if (mask)
        *mask++ = '\0';
    apr_status_t rv = apr_ipsubnet_create(&subnet, address, mask, cmd->pool);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "SI0104: SubinterpTrustedProxies: '%s' is not an IP "
                            "address or CIDR range (host names are not accepted)", arg);
    if (!dir->trusted_proxies)
        dir->trusted_proxies = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    APR_ARRAY_PUSH(dir->trusted_proxies, apr_ipsubnet_t *) = subnet;
    return NULL;
}

/* SubinterpTrustedProxyHeaders HEADER ... */
static const char *cmd_trusted_headers(cmd_parms *cmd, void *dirconf, const char *arg)
{
    si_dir_conf *dir = dirconf;
    const char *canonical;
    if (si_proxy_header_group(arg, &canonical) < 0)
        return apr_psprintf(cmd->pool, "SI0104: SubinterpTrustedProxyHeaders: '%s' is not a "
                            "header mod_subinterp knows how to apply (known: %s)", arg,
                            si_proxy_known_headers());
    if (!dir->trusted_headers)
        dir->trusted_headers = apr_array_make(cmd->pool, 4, sizeof(const char *));
    APR_ARRAY_PUSH(dir->trusted_headers, const char *) = canonical;
    return NULL;
}

const command_rec si_directives[] = {
    AP_INIT_FLAG("SubinterpImportProbe", cmd_global_flag,
                 (void *)APR_OFFSETOF(si_server_conf, probe), RSRC_CONF,
                 "On (default): try each pool's start-up imports in a throwaway process first, "
                 "and load no pool whose imports crash it"),
    AP_INIT_FLAG("SubinterpPythonUTF8", cmd_global_flag,
                 (void *)APR_OFFSETOF(si_server_conf, utf8), RSRC_CONF,
                 "On (default): Python's UTF-8 mode (PEP 540/686), whatever Apache's locale; "
                 "Off: text encodings follow the locale"),
    AP_INIT_TAKE1("SubinterpPythonHome", cmd_python_home, NULL, RSRC_CONF,
                  "sys.prefix of the embedded Python runtime"),
    AP_INIT_TAKE1("SubinterpPythonPath", cmd_python_path, NULL, RSRC_CONF,
                  "directories (colon separated) prepended to sys.path in every interpreter"),
    AP_INIT_TAKE_ARGV("SubinterpPool", cmd_pool, NULL, RSRC_CONF,
                      "NAME " SI_POOL_OPTIONS),
    AP_INIT_TAKE_ARGV("SubinterpScriptAlias", cmd_script_alias, NULL, RSRC_CONF,
                      "URL-PATH FILE [pool=NAME] [callable=NAME]"),
    AP_INIT_FLAG("SubinterpScriptReloading", cmd_reloading, NULL, RSRC_CONF,
                 "On to rebuild a pool's interpreters when a mounted script changes"),
    AP_INIT_FLAG("SubinterpPassAuthorization", cmd_pass_authorization, NULL, OR_AUTHCFG | RSRC_CONF,
                 "On to pass the Authorization header to apps as HTTP_AUTHORIZATION"),
    AP_INIT_TAKE_ARGV("SubinterpAuthUserScript", cmd_hook_script,
                      (void *)APR_OFFSETOF(si_dir_conf, auth_user),
                      RSRC_CONF | ACCESS_CONF, "FILE [pool=NAME]: check_password() and "
                      "get_realm_hash() for AuthBasicProvider/AuthDigestProvider subinterp"),
    AP_INIT_TAKE_ARGV("SubinterpAuthGroupScript", cmd_hook_script,
                      (void *)APR_OFFSETOF(si_dir_conf, auth_group),
                      RSRC_CONF | ACCESS_CONF, "FILE [pool=NAME]: groups_for_user() for "
                      "Require subinterp-group"),
    AP_INIT_TAKE_ARGV("SubinterpAccessScript", cmd_hook_script,
                      (void *)APR_OFFSETOF(si_dir_conf, access),
                      RSRC_CONF | ACCESS_CONF, "FILE [pool=NAME]: allow_access() for every "
                      "request in this location"),
    AP_INIT_TAKE_ARGV("SubinterpImportScript", cmd_import_script, NULL, RSRC_CONF,
                      "FILE pool=NAME: run FILE in every interpreter of the pool at start-up"),
    AP_INIT_TAKE_ARGV("SubinterpHandlerScript", cmd_handler_script, NULL, RSRC_CONF,
                      "HANDLER-NAME FILE [pool=NAME] [callable=NAME]"),
    AP_INIT_TAKE1("SubinterpCallableObject", ap_set_string_slot,
                  (void *)APR_OFFSETOF(si_dir_conf, callable), RSRC_CONF | ACCESS_CONF,
                  "the WSGI callable's name in subinterp-script files of this directory "
                  "(default application), as mod_wsgi's WSGICallableObject"),
    AP_INIT_TAKE1("SubinterpHandlerPool", cmd_handler_pool, NULL, RSRC_CONF | ACCESS_CONF,
                  "the pool that runs subinterp-script files in this location"),
    AP_INIT_ITERATE("SubinterpTrustedProxies", cmd_trusted_proxies, NULL,
                    RSRC_CONF | ACCESS_CONF, "addresses or CIDR ranges of trusted proxies"),
    AP_INIT_ITERATE("SubinterpTrustedProxyHeaders", cmd_trusted_headers, NULL,
                    RSRC_CONF | ACCESS_CONF, "forwarded headers to apply when the peer is a "
                    "trusted proxy"),
    {NULL}
};

int si_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static const char *mount_path(const si_mount_conf *mount)
{
    return mount->url[0] ? mount->url : "/";
}

/* Gives script its pool (a named one of s, or an implicit one of its own) and its place in the
 * pool's load order.  0, or -1 for an unknown pool name (logged). */
static int resolve_script(apr_pool_t *p, server_rec *s, si_server_conf *conf,
                          si_mount_conf *script, int *sequence)
{
    if (script->server != s || script->pool_spec)
        return 0;   /* inherited, or resolved by an earlier pass */
    if (script->pool_name) {
        script->pool_spec = spec_find(conf, script->pool_name);
        if (!script->pool_spec) {
            const char *directive =
                script->kind == SI_SCRIPT_MOUNT
                    ? apr_pstrcat(p, "SubinterpScriptAlias ", mount_path(script), NULL)
                : script->kind == SI_SCRIPT_HANDLER
                    ? apr_pstrcat(p, "SubinterpHandlerScript ", script->handler, NULL)
                    : script->label;
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "SI0110: %s (%s): "
                         "unknown pool '%s'; declare it with SubinterpPool in the same server "
                         "or virtual host", directive, script->defined_at, script->pool_name);
            return -1;
        }
        if (script->kind == SI_SCRIPT_HOOKS && script->pool_spec->processes) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "SI0124: %s (%s): pool "
                         "%s is a process pool, and authentication and access scripts run in "
                         "Apache's children: give them a pool without processes=",
                         script->label, script->defined_at, script->pool_name);
            return -1;
        }
    }
    else {
        script->pool_spec = spec_new(p, s, script->kind == SI_SCRIPT_MOUNT ? mount_path(script)
                                : script->script, script->defined_at);
        script->pool_spec->implicit = 1;
        APR_ARRAY_PUSH(conf->pool_specs, si_pool_spec *) = script->pool_spec;
    }
    script->index = script->pool_spec->mounts->nelts;
    script->module_name = apr_psprintf(p, "_subinterp_app_%d", (*sequence)++);
    APR_ARRAY_PUSH(script->pool_spec->mounts, si_mount_conf *) = script;
    return 0;
}

/* The pool's own Python environment (virtualenv= and python-path=), as one comparable string. */
static const char *environment_of(apr_pool_t *p, const si_pool_spec *spec)
{
    const char *env = apr_pstrcat(p, "virtualenv=", spec->virtualenv ? spec->virtualenv : "(none)",
                                  " python-path=", NULL);
    for (int i = 0; i < spec->python_path->nelts; i++)
        env = apr_pstrcat(p, env, i ? ":" : "", APR_ARRAY_IDX(spec->python_path, i,
                                                             const char *), NULL);
    return spec->python_path->nelts ? env : apr_pstrcat(p, env, "(none)", NULL);
}

/* Every gil=main pool of a child runs in the one main interpreter, with one sys.path and one
 * sys.modules.  Two of them that ask for different environments cannot both have theirs: the
 * first import of a package wins for every site (a blog ran the api venv's Flask), so that is
 * refused (SI0118).  Pools of two virtual hosts with the same environment still share
 * sys.modules, so site A's `common.py` can be site B's: said at start-up (SI0113). */
static apr_status_t check_shared_main_interpreter(apr_pool_t *p, server_rec *main_server)
{
    si_pool_spec *first = NULL;
    int warned = 0;
    apr_array_header_t *specs = si_config_pool_specs(p, main_server);
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        if (spec->gil != SI_GIL_MAIN || spec->processes)
            continue;   /* a process pool has main interpreters of its own */
        if (!first) {
            first = spec;
            continue;
        }
        const char *mine = environment_of(p, spec), *theirs = environment_of(p, first);
        if (strcmp(mine, theirs) != 0) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, spec->server, "SI0118: "
                         "gil=main pools %s (%s: %s) and %s (%s: %s) ask for different Python "
                         "environments, but every gil=main pool runs in the one main "
                         "interpreter, with one sys.path and sys.modules: each site would run "
                         "whichever package versions were imported first.  Serve one of them "
                         "with processes=N (a process pool: main interpreters of its own), "
                         "gil=shared or gil=own, or give both the same virtualenv= and "
                         "python-path=", first->name, first->defined_at,
                         theirs, spec->name, spec->defined_at, mine);
            return APR_EINVAL;
        }
        if (spec->server != first->server && !warned) {
            warned = 1;
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, spec->server, "SI0113: gil=main pools "
                         "%s (%s) and %s (%s) belong to different virtual hosts but share the "
                         "main interpreter, and with it sys.modules: modules of the same name "
                         "collide (one site imports the other's). Give them distinct module "
                         "names, or serve one of them with gil=shared", first->name,
                         first->defined_at, spec->name, spec->defined_at);
        }
    }
    return APR_SUCCESS;
}

apr_status_t si_config_resolve(apr_pool_t *p, server_rec *main_server)
{
    apr_status_t status = APR_SUCCESS;
    int sequence = 0;
    for (server_rec *s = main_server; s; s = s->next) {
        si_server_conf *conf = si_server_config(s);
        /* Import scripts first: they run before anything else the pool loads. */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < conf->scripts->nelts; i++) {
                si_mount_conf *script = APR_ARRAY_IDX(conf->scripts, i, si_mount_conf *);
                if ((script->kind == SI_SCRIPT_IMPORT) == (pass == 0)
                    && resolve_script(p, s, conf, script, &sequence) < 0)
                    status = APR_EINVAL;
            }
        for (int i = 0; i < conf->mounts->nelts; i++)
            if (resolve_script(p, s, conf, APR_ARRAY_IDX(conf->mounts, i, si_mount_conf *),
                               &sequence) < 0)
                status = APR_EINVAL;
        for (int i = 0; i < conf->handlers->nelts; i++)
            if (resolve_script(p, s, conf, APR_ARRAY_IDX(conf->handlers, i, si_mount_conf *),
                               &sequence) < 0)
                status = APR_EINVAL;
        for (int i = 0; i < conf->pool_refs->nelts; i++) {
            si_pool_ref *ref = APR_ARRAY_IDX(conf->pool_refs, i, si_pool_ref *);
            if (ref->spec)
                continue;
            if (!(ref->spec = spec_find(conf, ref->name))) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "SI0110: "
                             "SubinterpHandlerPool %s (%s): unknown pool; declare it with "
                             "SubinterpPool in the same server or virtual host", ref->name,
                             ref->defined_at);
                status = APR_EINVAL;
                continue;
            }
            if (ref->spec->processes) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, "SI0124: "
                             "SubinterpHandlerPool %s (%s): a process pool cannot run "
                             "subinterp-script files; mount the app with "
                             "SubinterpScriptAlias instead", ref->name, ref->defined_at);
                status = APR_EINVAL;
                continue;
            }
            ref->spec->serves_files = 1;
        }
        for (int i = 0; i < conf->pool_specs->nelts; i++) {
            si_pool_spec *spec = APR_ARRAY_IDX(conf->pool_specs, i, si_pool_spec *);
            if (spec->interpreters == 0)
                spec->interpreters = spec->gil == SI_GIL_OWN
                                     ? SI_DEFAULT_INTERPRETERS_PER_CPU * si_online_cpus() : 1;
            spec->reloading = conf->reloading == 1;
        }
    }
    if (status != APR_SUCCESS)
        return status;
    apr_array_header_t *running = si_config_pool_specs(p, main_server);
    for (int i = 0; i < running->nelts; i++)
        APR_ARRAY_IDX(running, i, si_pool_spec *)->ordinal = i;
    return check_shared_main_interpreter(p, main_server);
}

apr_array_header_t *si_config_pool_specs(apr_pool_t *p, server_rec *main_server)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(si_pool_spec *));
    for (server_rec *s = main_server; s; s = s->next) {
        si_server_conf *conf = si_server_config(s);
        for (int i = 0; i < conf->pool_specs->nelts; i++) {
            si_pool_spec *spec = APR_ARRAY_IDX(conf->pool_specs, i, si_pool_spec *);
            if (spec->server == s && (spec->mounts->nelts > 0 || spec->serves_files))
                APR_ARRAY_PUSH(all, si_pool_spec *) = spec;
        }
    }
    return all;
}

static const si_pool_spec *served_alone;   /* set in a process pool's process only */
static int served_index;
static char process_label[160];            /* written once, before threads start */

void si_config_serve_only(const si_pool_spec *spec, int index)
{
    served_alone = spec;
    served_index = index;
}

void si_config_name_process(void)
{
    if (served_alone)
        apr_snprintf(process_label, sizeof(process_label), "pool %s process %d (pid %ld)",
                     served_alone->name, served_index, (long)getpid());
    else
        apr_snprintf(process_label, sizeof(process_label), "child %ld", (long)getpid());
}

const char *si_config_process_label(void)
{
    return process_label;
}

int si_config_runs_here(const si_pool_spec *spec)
{
    return served_alone ? spec == served_alone : spec->processes == 0;
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

si_mount_conf *si_config_handler(server_rec *s, const char *handler)
{
    si_server_conf *conf = si_server_config(s);
    for (int i = 0; i < conf->handlers->nelts; i++) {
        si_mount_conf *candidate = APR_ARRAY_IDX(conf->handlers, i, si_mount_conf *);
        if (strcmp(candidate->handler, handler) == 0)
            return candidate;
    }
    return NULL;
}
