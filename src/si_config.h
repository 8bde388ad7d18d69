/* si_config.h — configuration: directives, per-server and per-directory records, validation.
 *
 * Pools and mounts are parsed in the parent and never touch Python.  A pool belongs to the
 * server_rec (main server or virtual host) that declares it; mounts are inherited by virtual hosts
 * the way mod_alias inherits aliases, and keep pointing at the pool of the server that declared them.
 */
#ifndef SI_CONFIG_H
#define SI_CONFIG_H

#include "si_common.h"

typedef enum { SI_GIL_OWN = 0, SI_GIL_SHARED, SI_GIL_MAIN } si_gil_mode;

struct si_pool;

typedef struct si_pool_conf {
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
    int lazy;                        /* preload=off: import apps on first use */
    int reloading;                   /* SubinterpScriptReloading of the declaring server */
    apr_array_header_t *mounts;      /* si_mount_conf * served by this pool */
    struct si_pool *runtime;         /* the child's live pool, NULL in the parent */
} si_pool_conf;

typedef struct si_mount_conf {
    const char *url;                 /* without trailing slash; "" mounts at "/" */
    const char *script;              /* absolute path */
    const char *callable;
    const char *pool_name;           /* NULL: implicit pool */
    si_pool_conf *pool;              /* resolved in post_config */
    int index;                       /* position in pool->mounts */
    const char *module_name;         /* sys.modules name of the script, unique per process */
    server_rec *server;
    const char *defined_at;
} si_mount_conf;

typedef struct {
    apr_array_header_t *pools;       /* si_pool_conf *, declared here (not inherited) */
    apr_array_header_t *mounts;      /* si_mount_conf *, own first, then inherited */
    int reloading;                   /* SubinterpScriptReloading, -1 unset */
    /* process-wide, meaningful on the main server only */
    const char *python_home;
    apr_array_header_t *python_path; /* const char * */
} si_server_conf;

typedef struct {
    int pass_authorization;          /* -1: unset */
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
apr_array_header_t *si_config_all_pools(apr_pool_t *p, server_rec *main_server);

/* The mount whose URL prefix matches uri best (longest), or NULL. */
si_mount_conf *si_config_match(server_rec *s, const char *uri);

const char *si_gil_name(si_gil_mode gil);

#endif
