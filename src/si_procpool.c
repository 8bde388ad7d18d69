/* si_procpool.c — process pools' sockets and processes, in Apache's parent (see si_procpool.h).
 *
 * Who touches what: everything here runs on the parent's one thread (post_config, the
 * other-child callbacks and the monitor hook all run from the MPM's main loop).  The processes
 * see the same configuration memory as it was at fork, and each process's row in the shared
 * stats segment (si_stats_process), which both sides write with atomics.
 */
#include "si_procpool.h"
#include "si_procserve.h"
#include "si_stats.h"

#include "ap_mpm.h"
#include "http_core.h"
#include "ap_listen.h"
#include "mod_unixd.h"
#include "unixd.h"

#include "apr_thread_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define SI_PROC_QUICK_DEATH apr_time_from_sec(10)   /* died sooner: back off before the next */
#define SI_PROC_BACKOFF_MAX apr_time_from_sec(30)
#define SI_PROC_BACKLOG     1024

typedef struct si_proc {
    si_pool_spec *spec;
    server_rec *server;             /* the pool's (for messages) */
    server_rec *main_server;        /* what the process starts from */
    int index;
    int listen_fd;
    apr_proc_t proc;                /* pid 0: not running */
    apr_time_t started;
    apr_time_t restart_at;          /* fork failed: when to try again */
    int quick_deaths;               /* in a row, each within SI_PROC_QUICK_DEATH of its start */
    apr_pool_t *pconf;
} si_proc;

/* This generation's processes (pconf memory); NULL in a process pool's process. */
static apr_array_header_t *procs;
static int exiting;                 /* pconf is going: no more restarts */

/* Processes of generations before this one, which drain and exit on their own (SIGUSR1).  Kept
 * across restarts (pconf does not survive one), and registered again with each generation as
 * other children, so the MPM hands their deaths to us, and their socket goes with the last. */
#define SI_OLD_MAX 1024
typedef struct {
    pid_t pid;                      /* 0: gone */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    apr_proc_t proc;
} si_old_process;

typedef struct {
    unsigned generation;            /* names each start's sockets apart from the last one's */
    int count;
    si_old_process old[SI_OLD_MAX];
} si_retained;

static si_retained *retained(void)
{
    si_retained *kept = ap_retained_data_get("mod_subinterp process pools");
    return kept ? kept : ap_retained_data_create("mod_subinterp process pools",
                                                 sizeof(si_retained));
}

static void old_process_ended(int reason, void *data, int status)
{
    si_old_process *old = data;
    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST)
        return;
    apr_proc_other_child_unregister(old);
    old->pid = 0;
    si_retained *kept = retained();
    for (int i = 0; i < kept->count; i++)
        if (kept->old[i].pid && strcmp(kept->old[i].path, old->path) == 0)
            return;
    unlink(old->path);
}

/* The old generations' processes that still run, registered with this generation. */
static void adopt_old_processes(apr_pool_t *pconf)
{
    si_retained *kept = retained();
    int n = 0;
    for (int i = 0; i < kept->count; i++)
        if (kept->old[i].pid)
            kept->old[n++] = kept->old[i];
    kept->count = n;
    for (int i = 0; i < n; i++) {
        kept->old[i].proc = (apr_proc_t){.pid = kept->old[i].pid};
        apr_proc_other_child_register(&kept->old[i].proc, old_process_ended, &kept->old[i], NULL,
                                      pconf);
    }
}

static void start_process(si_proc *p, apr_interval_time_t delay);

/* The MPM reaps between sleeps of a second, so a process that ended (recycled, or died) would
 * wait up to that long for its successor while its requests wait in the backlog.  While there
 * are process pools the parent takes SIGCHLD with a handler that does nothing: the sleep ends
 * early (select is never restarted) and the MPM reaps at once; SA_RESTART keeps every other call
 * of the parent's going.  Apache's children get the disposition they had before back
 * (si_procpool_child_init); the pools' processes set their own. */
static struct sigaction sigchld_before;
static int sigchld_caught;

static void child_exited(int sig)
{
    (void)sig;
}

static void reap_promptly(void)
{
    if (sigchld_caught)
        return;
    struct sigaction sa = {.sa_handler = child_exited, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigchld_caught = sigaction(SIGCHLD, &sa, &sigchld_before) == 0;
}

static void restore_sigchld(void)
{
    if (sigchld_caught)
        sigaction(SIGCHLD, &sigchld_before, NULL);
    sigchld_caught = 0;
}

void si_procpool_child_init(void)
{
    restore_sigchld();
}


/* The MPM reaped one of ours (APR_OC_REASON_DEATH), or lost track of it. */
static void process_ended(int reason, void *data, int status)
{
    si_proc *p = data;
    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST)
        return;   /* RESTART, UNREGISTER: pconf's cleanup (hand_over) deals with those */
    apr_proc_other_child_unregister(p);
    si_stats_proc *row = si_stats_process(p->spec, p->index);
    apr_time_t now = apr_time_now();
    /* The MPM passes an exit status or a signal number without saying which (its own AH00052
     * line does); the process says itself that it was recycled. */
    int recycled = row && atomic_load(&row->state) == SI_PROC_RECYCLING;
    pid_t pid = p->proc.pid;
    p->proc.pid = 0;
    if (row) {
        atomic_store(&row->state, SI_PROC_DOWN);
        atomic_store(&row->active, 0);
    }
    if (exiting)
        return;
    if (recycled) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, p->server, "SI0702: pool %s process %d (pid %"
                     APR_PID_T_FMT ") ended after max-requests=%d; starting its successor",
                     p->spec->name, p->index, pid, p->spec->max_requests);
        p->quick_deaths = 0;
        start_process(p, 0);
        return;
    }
    p->quick_deaths = now - p->started < SI_PROC_QUICK_DEATH ? p->quick_deaths + 1 : 0;
    apr_interval_time_t backoff = 0;
    if (p->quick_deaths > 0) {
        backoff = apr_time_from_sec(1) << (p->quick_deaths > 5 ? 5 : p->quick_deaths - 1);
        if (backoff > SI_PROC_BACKOFF_MAX)
            backoff = SI_PROC_BACKOFF_MAX;
    }
    if (row)
        atomic_fetch_add(&row->restarts, 1);
    apr_pool_t *tmp;
    apr_pool_create(&tmp, p->pconf);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, p->server, "SI0701: pool %s process %d (pid %"
                 APR_PID_T_FMT ") %s; the requests it was running failed (502), and it is "
                 "restarted %s", p->spec->name, p->index, pid,
                 reason == APR_OC_REASON_LOST ? "was lost"
                 : apr_psprintf(tmp, "ended unexpectedly (exit status or signal %d)", status),
                 backoff ? apr_psprintf(tmp, "in %" APR_TIME_T_FMT " s (it died %d time(s) in "
                                        "a row within %d s of starting)", apr_time_sec(backoff),
                                        p->quick_deaths,
                                        (int)apr_time_sec(SI_PROC_QUICK_DEATH)) : "now");
    apr_pool_destroy(tmp);
    start_process(p, backoff);
}

/* In a new process, before it becomes a pool's: what belongs to the parent (Apache's listeners,
 * the other pools' sockets) is closed. */
static void close_inherited(int keep_fd)
{
    ap_close_listeners();
    for (int i = 0; procs && i < procs->nelts; i++) {
        si_proc *p = APR_ARRAY_IDX(procs, i, si_proc *);
        if (p->index == 0 && p->listen_fd >= 0 && p->listen_fd != keep_fd)
            close(p->listen_fd);
    }
    procs = NULL;   /* the parent's bookkeeping, not this process's */
}

/* The backoff is waited out by the new process itself before it starts Python: the parent's
 * monitor hook runs only every ten seconds or so. */
static void start_process(si_proc *p, apr_interval_time_t delay)
{
    si_stats_proc *row = si_stats_process(p->spec, p->index);
    pid_t pid = fork();
    if (pid == 0) {
        close_inherited(p->listen_fd);
        si_procserve_main(p->pconf, p->main_server, p->spec, p->index, p->listen_fd, delay);
        _exit(1);   /* not reached */
    }
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, p->server, "SI0701: pool %s process %d "
                     "could not be forked; trying again in 1 s", p->spec->name, p->index);
        p->restart_at = apr_time_now() + apr_time_from_sec(1);
        return;
    }
    p->proc.pid = pid;
    p->started = apr_time_now();
    if (row) {
        atomic_store(&row->pid, pid);
        atomic_store(&row->started, p->started);
        atomic_store(&row->state, delay ? SI_PROC_DOWN : SI_PROC_STARTING);
    }
    apr_proc_other_child_register(&p->proc, process_ended, p, NULL, p->pconf);
}

/* The directory of the sockets: ours (made by this user), not a symlink, and writable by no
 * one else, or nothing in it can be trusted: a user who made it first could swap our sockets
 * for theirs and read every request.  Searchable by all, so Apache's children reach their
 * sockets, whose own mode lets only them connect. */
static const char *socket_dir(apr_pool_t *p, const char **dir)
{
    *dir = ap_runtime_dir_relative(p, "subinterp-sockets");
    if (!*dir)
        return "DefaultRuntimeDir is not usable";
    struct stat st;
    if (lstat(*dir, &st) != 0) {
        if (errno != ENOENT || mkdir(*dir, 0711) != 0 || chmod(*dir, 0711) != 0
            || lstat(*dir, &st) != 0)
            return apr_psprintf(p, "%s could not be made: %s", *dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return apr_psprintf(p, "%s is not a directory (a symbolic link?); remove it", *dir);
    if (st.st_uid != geteuid())
        return apr_psprintf(p, "%s belongs to uid %ld, not to the user Apache starts as (%ld): "
                            "someone else made it first; remove it", *dir, (long)st.st_uid,
                            (long)geteuid());
    if (st.st_mode & 022)
        return apr_psprintf(p, "%s may be written by others (mode %04o); remove it", *dir,
                            (unsigned)(st.st_mode & 07777));
    return NULL;
}

/* The listening socket of spec, in dir; -1 with *why set.  Each start or restart gets paths of
 * its own: the old generation's processes keep serving on theirs, and remove it when the last
 * of them is gone (old_process_ended), which must not take the new one with it. */
static int make_listener(apr_pool_t *p, si_pool_spec *spec, const char *dir,
                         unsigned generation, const char **why)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *path = apr_psprintf(p, "%s/%ld-%u-%d-%s.sock", dir, (long)getpid(), generation,
                                    spec->ordinal, spec->name);
    if (strlen(path) >= sizeof(addr.sun_path)) {
        *why = apr_psprintf(p, "the socket path %s is longer than a Unix socket allows (%d); "
                            "set a shorter DefaultRuntimeDir", path,
                            (int)sizeof(addr.sun_path) - 1);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = apr_psprintf(p, "socket(): %s", strerror(errno));
        return -1;
    }
    unlink(path);   /* a leftover of ours: the directory is no one else's */
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    /* Apache's children connect: as root the socket is handed to their user, mode 0600. */
    if (rc == 0)
        rc = chmod(path, 0600);
    if (rc == 0 && geteuid() == 0)
        rc = chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id);
    if (rc == 0)
        rc = listen(fd, SI_PROC_BACKLOG);
    if (rc != 0) {
        *why = apr_psprintf(p, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    spec->socket_path = path;
    return fd;
}

/* pconf goes (restart or stop).  At a stop the processes are told to finish and exit; at a
 * restart they go on serving the old children, drain, and exit by themselves (SIGUSR1), and
 * the MPM reaps them as processes of the old generation. */
static apr_status_t hand_over(void *data)
{
    int stopping = ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING;
    si_retained *keep = retained();
    exiting = 1;
    for (int i = 0; stopping && i < keep->count; i++)
        if (keep->old[i].pid) {
            kill(keep->old[i].pid, SIGTERM);
            unlink(keep->old[i].path);   /* no child will connect again */
        }
    for (int i = 0; procs && i < procs->nelts; i++) {
        si_proc *p = APR_ARRAY_IDX(procs, i, si_proc *);
        if (p->proc.pid > 0) {
            kill(p->proc.pid, stopping ? SIGTERM : SIGUSR1);
            if (!stopping && keep->count < SI_OLD_MAX) {
                si_old_process *old = &keep->old[keep->count++];
                old->pid = p->proc.pid;
                apr_cpystrn(old->path, p->spec->socket_path, sizeof(old->path));
            }
        }
        if (p->index == 0 && p->listen_fd >= 0) {
            close(p->listen_fd);
            if (stopping)
                unlink(p->spec->socket_path);
        }
    }
    procs = NULL;
    restore_sigchld();   /* the next generation sets it again if it has process pools */
    return APR_SUCCESS;
}

void si_procpool_start(apr_pool_t *pconf, server_rec *s)
{
    apr_array_header_t *specs = si_config_pool_specs(pconf, s);
    const char *dir = NULL, *dir_problem = NULL;
    int dir_checked = 0;
    procs = apr_array_make(pconf, 4, sizeof(si_proc *));   /* each registered: never moved */
    exiting = 0;
    adopt_old_processes(pconf);
    unsigned generation = ++retained()->generation;
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        if (!spec->processes)
            continue;
        spec->unavailable = NULL;
        if (!dir_checked) {
            dir_problem = socket_dir(pconf, &dir);
            dir_checked = 1;
        }
        const char *why = dir_problem;
        if (!why && spec->user && geteuid() != 0 && spec->uid != geteuid())
            why = apr_psprintf(pconf, "user=%s needs Apache to start as root", spec->user);
        int fd = why ? -1 : make_listener(pconf, spec, dir, generation, &why);
        if (fd < 0) {
            spec->unavailable = why;
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, spec->server, "SI0700: "
                         "process pool %s (%s) has no processes, and its URLs answer 503: %s",
                         spec->name, spec->defined_at, why);
            continue;
        }
        reap_promptly();
        for (int k = 0; k < spec->processes; k++) {
            si_proc *p = apr_palloc(pconf, sizeof(*p));
            APR_ARRAY_PUSH(procs, si_proc *) = p;
            *p = (si_proc){.spec = spec, .server = spec->server, .main_server = s, .index = k,
                           .listen_fd = fd, .pconf = pconf};
            start_process(p, 0);
        }
    }
    apr_pool_cleanup_register(pconf, NULL, hand_over, apr_pool_cleanup_null);
}

int si_procpool_monitor(apr_pool_t *pool, server_rec *s)
{
    apr_time_t now = apr_time_now();
    for (int i = 0; procs && !exiting && i < procs->nelts; i++) {
        si_proc *p = APR_ARRAY_IDX(procs, i, si_proc *);
        if (p->proc.pid == 0 && p->restart_at && now >= p->restart_at) {
            p->restart_at = 0;
            start_process(p, 0);
        }
    }
    return DECLINED;
}
