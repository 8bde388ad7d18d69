/* si_config.h — configuration: directives, per-server and per-directory records, validation.
 *
 * Pools and mounts are parsed in the parent and never touch Python.  A pool belongs to the
 * server_rec (main server or virtual host) that declares it; mounts are inherited by virtual
 * hosts the way mod_alias inherits aliases, and keep pointing at the pool of the server that
 * declared them.
 */
#ifndef SI_CONFIG_H
#define SI_CONFIG_H

#include "si_common.h"

typedef enum { SI_GIL_OWN = 0, SI_GIL_SHARED, SI_GIL_MAIN } si_gil_mode;
/* cpu-affinity=: off, on (every request of a slot runs on its CPU), auto (those of a slot whose
 * requests are long enough in CPU time to pay for the pin; si_pool.c). */
typedef enum { SI_AFFINITY_OFF = 0, SI_AFFINITY_ON, SI_AFFINITY_AUTO } si_affinity_mode;

/* What a script loaded into a pool is for.  All but SI_SCRIPT_FILE are known when the
 * configuration is read, so every interpreter of the pool loads them before it serves. */
typedef enum {
    SI_SCRIPT_MOUNT = 0,   /* SubinterpScriptAlias: a WSGI callable at a URL prefix */
    SI_SCRIPT_HANDLER,     /* SubinterpHandlerScript: a WSGI callable behind a handler name */
    SI_SCRIPT_HOOKS,       /* SubinterpAuth*Script, SubinterpAccessScript: functions looked up
                            * by name on each call, so the module itself is kept */
    SI_SCRIPT_IMPORT,      /* SubinterpImportScript: run at start-up, before everything else */
    SI_SCRIPT_FILE         /* handler subinterp-script: r->filename, loaded on first use */
} si_script_kind;

struct si_pool;

typedef struct si_pool_spec {
    const char *name;
    server_rec *server;              /* the server_rec whose block declared it */
    const char *defined_at;          /* "file:line" for messages */
    int implicit;                    /* made for a mount without pool= */
    int interpreters;                /* 0 until post_config resolves the default */
    si_gil_mode gil;
    apr_array_header_t *python_path; /* const char *, this pool only */
    const char *virtualenv;
    int max_active;                  /* 0: unlimited */
    apr_interval_time_t queue_timeout;
    apr_interval_time_t request_timeout;  /* 0: off */
    int max_requests;                /* 0: off */
    apr_size_t cache_size;           /* mod_subinterp.shared.cache's byte limit; 0: no cache */
    int lazy;                        /* preload=off: import apps on first use */
    int daemon_threads;              /* daemon-threads=on (default): gil=own allows them */
    int cpu_affinity;                /* SI_AFFINITY_*: whether a request runs on its slot's CPU */
    int serves_files;                /* named by SubinterpHandlerPool: runs subinterp-script
                                      * files even with nothing in mounts */
    int reloading;                   /* SubinterpScriptReloading of the declaring server */
    apr_array_header_t *mounts;      /* si_mount_conf * loaded by this pool, imports first */
    int ordinal;                     /* its place among the pools a child runs (and its row of
                                      * server-wide counters, si_stats.c), in
                                      * si_config_pool_specs() order; -1: runs nowhere */
    const char *probe_failure;       /* its imports killed the start-up probe (si_probe.c):
                                      * not loaded in children; NULL if fine or not probed */
    int gil_set;                     /* gil= was given (a process pool's default is main) */
    /* A process pool (processes=N): runs in processes of its own that Apache's parent starts
     * and supervises (si_procpool.c), never in Apache's children */
    int processes;                   /* 0: an in-child pool */
    int threads;                     /* requests each process runs at once */
    const char *user, *group;        /* what its processes run as; NULL: Apache's User/Group */
    uid_t uid;
    gid_t gid;
    const char *socket_path;         /* where its processes listen (set in post_config) */
    const char *unavailable;         /* why it has no processes (set in post_config), or NULL */
} si_pool_spec;

typedef struct si_mount_conf {
    si_script_kind kind;
    const char *url;                 /* without trailing slash; "" mounts at "/"; mounts only */
    const char *label;               /* what messages call it: the URL, "handler NAME", ... */
    const char *handler;             /* SI_SCRIPT_HANDLER: the handler name */
    const char *script;              /* absolute path */
    const char *callable;            /* NULL for hooks and imports: the module is the result */
    const char *pool_name;           /* NULL: implicit pool */
    si_pool_spec *pool_spec;         /* resolved in post_config */
    int index;                       /* position in pool_spec->mounts */
    const char *module_name;         /* sys.modules name of the script, unique per process */
    server_rec *server;
    const char *defined_at;
} si_mount_conf;

/* A pool named inside a directory block (SubinterpHandlerPool), resolved with the rest. */
typedef struct {
    const char *name;
    server_rec *server;
    const char *defined_at;
    si_pool_spec *spec;
} si_pool_ref;

typedef struct {
    apr_array_header_t *pool_specs;  /* si_pool_spec *, declared here (not inherited) */
    apr_array_header_t *mounts;      /* si_mount_conf *, own first, then inherited */
    apr_array_header_t *handlers;    /* si_mount_conf * (SI_SCRIPT_HANDLER), as mounts */
    apr_array_header_t *scripts;     /* si_mount_conf * of every other kind declared here */
    apr_array_header_t *pool_refs;   /* si_pool_ref * made in this server's directory blocks */
    int reloading;                   /* SubinterpScriptReloading, -1 unset */
    /* process-wide, meaningful on the main server only */
    const char *python_home;
    apr_array_header_t *python_path; /* const char * */
    int probe;                       /* SubinterpImportProbe, -1 unset (on) */
    int utf8;                        /* SubinterpPythonUTF8, -1 unset (on) */
} si_server_conf;

/* Forwarded-header groups (si_proxy.c); a directory trusts a set of them. */
typedef enum {
    SI_FWD_CLIENT = 0, SI_FWD_SCHEME, SI_FWD_HOST, SI_FWD_PORT, SI_FWD_SCRIPT, SI_FWD_GROUPS
} si_forwarded_group;

typedef struct {
    int pass_authorization;          /* -1: unset */
    si_mount_conf *auth_user;        /* SubinterpAuthUserScript; NULL: unset */
    si_mount_conf *auth_group;       /* SubinterpAuthGroupScript */
    si_mount_conf *access;           /* SubinterpAccessScript */
    si_pool_ref *handler_pool;       /* SubinterpHandlerPool */
    const char *callable;            /* SubinterpCallableObject; NULL: unset ("application") */
    apr_array_header_t *trusted_proxies;  /* apr_ipsubnet_t *; NULL: unset */
    apr_array_header_t *trusted_headers;  /* const char * in canonical spelling; NULL: unset */
} si_dir_conf;

extern const command_rec si_directives[];

void *si_config_create_server(apr_pool_t *p, server_rec *s);
void *si_config_merge_server(apr_pool_t *p, void *base, void *add);
void *si_config_create_dir(apr_pool_t *p, char *dir);
void *si_config_merge_dir(apr_pool_t *p, void *base, void *add);

si_server_conf *si_server_config(server_rec *s);

/* Resolves pool references and defaults across all servers; logs and returns an error
 * status for a configuration that cannot run.  Runs in the parent, never touches Python. */
apr_status_t si_config_resolve(apr_pool_t *p, server_rec *main_server);

/* Every pool of the configuration, in declaration order (after si_config_resolve). */
apr_array_header_t *si_config_pool_specs(apr_pool_t *p, server_rec *main_server);

/* Which pools this process loads: an Apache child runs every in-child pool; a process pool's
 * process (si_procserve.c) calls si_config_serve_only first and runs that pool alone. */
void si_config_serve_only(const si_pool_spec *spec, int index);
int si_config_runs_here(const si_pool_spec *spec);

/* What messages call this process: "child PID", or "pool NAME process K (pid PID)".  Named
 * once, when it starts Python (si_runtime.c), before any thread of ours runs. */
void si_config_name_process(void);
const char *si_config_process_label(void);

/* The SubinterpHandlerScript of s named handler, or NULL. */
si_mount_conf *si_config_handler(server_rec *s, const char *handler);

/* The mount whose URL prefix matches uri best (longest), or NULL. */
si_mount_conf *si_config_match(server_rec *s, const char *uri);

const char *si_gil_name(si_gil_mode gil);

/* The processors this child may run on (1 if unknown): what gil=own's default pool size is
 * counted in, and how many threads load interpreters at start-up. */
int si_online_cpus(void);

/* interpreters= of a gil=own pool when not given, per CPU: Apache's threads then queue on half
 * as many threads per GIL (16 threads on 2 CPUs: 4 per interpreter instead of 8), with fewer
 * GIL handoffs and migrations per request.  Measured on 2 cores against one per CPU: Flask
 * 1.18x and 1.43x, the I/O-bound mixed 1.04x and 1.07x, hello 1.03x, CPU-bound 1.06x and 0.95x
 * (issue 25, docs/hot-path.md). */
#define SI_DEFAULT_INTERPRETERS_PER_CPU 2

/* threads= of a process pool when not given: as many requests at once as mod_wsgi's daemons' 15 */
#define SI_DEFAULT_PROCESS_THREADS 16
#define SI_DEFAULT_CACHE_SIZE ((apr_size_t)64 << 20)

/* SubinterpPool's options, for its `httpd -L` help and the unknown-option error alike. */
#define SI_POOL_OPTIONS "[interpreters=N] [gil=own|shared|main] [python-path=DIR:DIR] " \
    "[virtualenv=DIR] [max-active=N] [queue-timeout=SEC] [request-timeout=SEC] " \
    "[max-requests=N] [preload=on|off] [daemon-threads=on|off] [cache-size=BYTES[K|M|G]] " \
    "[cpu-affinity=on|off|auto] [processes=N] [threads=N] [user=NAME] [group=NAME]"

#endif
