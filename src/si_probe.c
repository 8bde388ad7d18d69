/* si_probe.c — each pool's start-up imports, tried first in a throwaway process.
 *
 * An extension that crashes when imported into a sub-interpreter (a single-phase or cffi module
 * that aborts instead of refusing) would kill every child at start-up, and Apache would replace
 * them forever: every virtual host down.  So before any child starts, the parent forks one probe
 * per pool.  The probe drops to Apache's user, starts Python as a child would, creates one of the
 * pool's interpreters and imports all its scripts (preload=off ones too), with faulthandler on
 * and the start and end of every module's loading written to a pipe.  A probe killed by a
 * signal marks its pool as failed: no child loads it, its URLs answer 500, the status page
 * says so, and SI0305 names the pool, the script and the module that was being imported.
 * Other pools serve as usual.
 *
 * Results are kept in DefaultRuntimeDir, keyed by the Python version, the pool's options and the
 * paths and modification times of its scripts and path directories, and hold only while every
 * file the probe's imports loaded (each module and extension, stdlib included) keeps its
 * modification time and size: a module edited to crash at import is probed again, so restarts
 * with nothing changed start as fast as before, and no other does.  Whatever the cache says,
 * children that die while loading a pool at start-up get it left alone by the later children
 * of that generation (si_stats_load_verdict, SI0309).  `SubinterpImportProbe Off` turns
 * probing off.
 */
#include "si_probe.h"
#include "si_pool.h"
#include "si_runtime.h"
#include "si_stats.h"

#include "apr_md5.h"
#include "mod_unixd.h"
#include "unixd.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SI_PROBE_TIMEOUT_MS 60000
#define SI_PROBE_REPORT_MAX (4 * 1024 * 1024)   /* module names and files: Django's ~1,000 */
#define SI_PROBE_CACHE_MAX  (4 * 1024 * 1024)
#define SI_PROBE_STACK "; Python stack: "   /* what follows is for SI0305 only */

typedef struct {
    si_pool_spec *spec;
    pid_t pid;
    int fd;                          /* read end of the report pipe; -1 once at EOF */
    char *report;
    apr_size_t len;
    int truncated;                   /* the report lost its start: its file list is incomplete */
    const char *cache_file;
} si_probe;

static void add_stat(apr_pool_t *p, const char **key, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        *key = apr_psprintf(p, "%s|%s:%lld:%lld", *key, path, (long long)st.st_mtime,
                            (long long)st.st_size);
    else
        *key = apr_psprintf(p, "%s|%s:missing", *key, path);
}

/* The verdicts decide whether a pool loads at all, so only what we wrote ourselves counts: the
 * directory must be ours (the parent's user, root when Apache starts as root), mode 0700, and
 * no symlink.  One that another user (www-data, say) made first is refused with SI0307 and
 * nothing is cached or read; files are opened with O_NOFOLLOW and must be ours too. */
static int trusted_dir(server_rec *s, const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()
        && (st.st_mode & 077) == 0)
        return 1;
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SI0307: %s is not a directory of uid %ld "
                 "with mode 0700 (another user may have made it first); the start-up probe's "
                 "verdicts are neither read from it nor kept there.  Remove it; it is made anew",
                 dir, (long)geteuid());
    return 0;
}

/* Opens a cache file of ours, never through a link; -1 if not. */
static int open_own(const char *file, int flags)
{
    int fd = open(file, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What decides a probe's outcome, as the name of its cache file (NULL: no runtime dir). */
static const char *cache_file(apr_pool_t *p, si_pool_spec *spec, apr_array_header_t *global)
{
    const char *key = apr_psprintf(p, "2|%s|%s|%s|%d|%s", Py_GetVersion(), spec->name,
                                   si_gil_name(spec->gil), spec->server->is_virtual,
                                   spec->virtualenv ? spec->virtualenv : "");
    for (int i = 0; i < spec->mounts->nelts; i++)
        add_stat(p, &key, APR_ARRAY_IDX(spec->mounts, i, si_mount_conf *)->script);
    for (int i = 0; i < spec->python_path->nelts; i++)
        add_stat(p, &key, APR_ARRAY_IDX(spec->python_path, i, const char *));
    for (int i = 0; global && i < global->nelts; i++)
        add_stat(p, &key, APR_ARRAY_IDX(global, i, const char *));
    if (spec->virtualenv)
        add_stat(p, &key, apr_psprintf(p, "%s/lib/python%d.%d/site-packages", spec->virtualenv,
                                       PY_MAJOR_VERSION, PY_MINOR_VERSION));
    unsigned char digest[APR_MD5_DIGESTSIZE];
    apr_md5(digest, key, strlen(key));
    char hex[2 * APR_MD5_DIGESTSIZE + 1];
    for (int i = 0; i < APR_MD5_DIGESTSIZE; i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    const char *dir = ap_runtime_dir_relative(p, "subinterp-probe");
    if (!dir || (mkdir(dir, 0700) != 0 && errno != EEXIST) || !trusted_dir(spec->server, dir))
        return NULL;
    return apr_pstrcat(p, dir, "/", hex, NULL);
}

/* Nanoseconds: an edit within the second of the last one, to the same size, still counts. */
static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Whether a "F MTIME SIZE PATH" line of a cache file still describes its file. */
static int unchanged(char *line)
{
    long long mtime, size;
    int at = 0;
    struct stat st;
    if (sscanf(line, "F %lld %lld %n", &mtime, &size, &at) != 2 || at == 0)
        return 0;
    return stat(line + at, &st) == 0 && mtime_ns(&st) == mtime && (long long)st.st_size == size;
}

/* The cached outcome: NULL if none (or a file its imports loaded changed since), "" if the pool
 * loaded, else the failure text.  The file: one "F MTIME SIZE PATH" line per file the probe
 * loaded, then "ok" or "failed" and the failure. */
static const char *cached(apr_pool_t *p, const char *file)
{
    int fd = file ? open_own(file, O_RDONLY) : -1;
    if (fd < 0)
        return NULL;
    char *text = apr_palloc(p, SI_PROBE_CACHE_MAX + 1);
    apr_size_t len = 0;
    ssize_t n;
    while (len < SI_PROBE_CACHE_MAX
           && (n = read(fd, text + len, SI_PROBE_CACHE_MAX - len)) > 0)
        len += n;
    close(fd);
    text[len] = '\0';
    char *at = text;
    while (*at == 'F') {
        char *end = strchr(at, '\n');
        if (!end)
            return NULL;
        *end = '\0';
        if (!unchanged(at))
            return NULL;
        at = end + 1;
    }
    return strncmp(at, "ok\n", 3) == 0 ? "" : strncmp(at, "failed\n", 7) == 0 ? at + 7 : NULL;
}

/* Writes the verdict after the files the probe's report names (a truncated report names too
 * few to be trusted: nothing is kept). */
static void remember(apr_pool_t *p, si_probe *probe, const char *failure)
{
    if (probe->truncated)
        return;
    int fd = probe->cache_file ? open_own(probe->cache_file, O_WRONLY | O_CREAT | O_TRUNC) : -1;
    if (fd < 0)
        return;
    apr_array_header_t *lines = apr_array_make(p, 256, sizeof(const char *));
    char *state, *text = apr_pstrmemdup(p, probe->report ? probe->report : "", probe->len);
    for (char *line = apr_strtok(text, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        struct stat st;
        if (strncmp(line, "file ", 5) == 0 && stat(line + 5, &st) == 0)
            APR_ARRAY_PUSH(lines, const char *) = apr_psprintf(p, "F %" APR_INT64_T_FMT " %"
                APR_INT64_T_FMT " %s\n", (apr_int64_t)mtime_ns(&st), (apr_int64_t)st.st_size,
                line + 5);
    }
    APR_ARRAY_PUSH(lines, const char *) = failure ? apr_pstrcat(p, "failed\n", failure, NULL)
                                                  : "ok\n";
    const char *all = apr_array_pstrcat(p, lines, 0);
    /* A short write leaves no verdict after the file lines: read back as none, so probed
     * again. */
    ssize_t written = write(fd, all, strlen(all));
    (void)written;
    close(fd);
}

/* Forks a process that runs as the user Apache's children run as (never as root: it reads or
 * imports the apps), with a pipe back to us.  Returns its pid to us, with *fd the pipe's read
 * end; 0 in it, with *fd the write end; -1 if it could not be made. */
static pid_t fork_as_apache_user(int *fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && ap_unixd_setup_child() != 0)
            _exit(3);
        *fd = fds[1];
        return 0;
    }
    close(fds[1]);
    if (pid < 0)
        close(fds[0]);
    else
        *fd = fds[0];
    return pid;
}

/* In the forked probe: never returns. */
static void run_probe(server_rec *s, si_pool_spec *spec, int report_fd)
{
    /* Our log lines would repeat what every child logs; the report is the probe's output. */
    apr_pool_t *p;
    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        _exit(2);   /* not a crash: the children meet the same shortage and log it */
    apr_file_t *devnull = NULL;
    if (apr_file_open(&devnull, "/dev/null", APR_FOPEN_WRITE, 0, p) == APR_SUCCESS)
        for (server_rec *vs = s; vs; vs = vs->next)
            vs->error_log = devnull;
    spec->lazy = 0;   /* preload=off apps are imported at a request: probe them too */
    si_stats_forget();   /* a probe that dies or is stopped tells the children nothing there */
    int rc = si_runtime_probe(p, s, spec, report_fd);
    _exit(rc == 0 ? 0 : 2);
}

/* The module whose loading was under way when the probe died (else the first that failed to
 * load), the script, and the Python stack faulthandler dumped. */
static const char *describe(apr_pool_t *p, si_probe *probe, int signal_number)
{
    const char *module = "?", *script = "?", *fatal = NULL, *failed_first = NULL;
    char *line, *state;
    char *text = apr_pstrmemdup(p, probe->report ? probe->report : "", probe->len);
    apr_array_header_t *loading = apr_array_make(p, 8, sizeof(const char *));
    for (line = apr_strtok(text, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        if (strncmp(line, "begin ", 6) == 0) {
            APR_ARRAY_PUSH(loading, const char *) = line + 6;
        }
        else if (strncmp(line, "end ", 4) == 0 || strncmp(line, "fail ", 5) == 0) {
            const char *name = strchr(line, ' ') + 1;
            if (line[0] == 'f' && !failed_first)
                failed_first = name;   /* the deepest failure is reported first */
            while (loading->nelts > 0) {   /* a module may end without its inner ones */
                const char *top = *(const char **)apr_array_pop(loading);
                if (strcmp(top, name) == 0)
                    break;
            }
        }
        else if (strncmp(line, "script ", 7) == 0)
            script = line + 7;
        else if (!fatal && strncmp(line, "Fatal Python error", 18) == 0)
            fatal = line;
        else if (fatal && strncmp(line, "  File ", 7) == 0 && !strstr(line, "<frozen "))
            fatal = apr_pstrcat(p, fatal, " /", line + 1, NULL);
    }
    /* Died inside a module's loading, or else (memory corrupted by a failed initialization,
     * noticed later) after the first module that failed to load. */
    if (loading->nelts > 0)
        module = APR_ARRAY_IDX(loading, loading->nelts - 1, const char *);
    else if (failed_first)
        module = apr_pstrcat(p, failed_first, " (whose loading failed before the crash)", NULL);
    return apr_psprintf(p, "importing %s (for %s) killed a probe process with signal %d (%s)%s%s",
                        module, script, signal_number, strsignal(signal_number),
                        fatal ? SI_PROBE_STACK : "", fatal ? fatal : "");
}

static void failed(apr_pool_t *pconf, si_probe *probe, const char *failure, int from_cache)
{
    si_pool_spec *spec = probe->spec;
    const char *stack = strstr(failure, SI_PROBE_STACK);
    spec->probe_failure = stack ? apr_pstrmemdup(pconf, failure, stack - failure)
                                : apr_pstrdup(pconf, failure);
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, spec->server, "SI0305: pool %s (%s): %s%s. The pool "
                 "is not loaded in any child and its URLs answer 500; other pools serve as "
                 "usual. An extension that cannot run in own-GIL sub-interpreters may work with "
                 "gil=shared or gil=main.", spec->name, spec->defined_at, failure,
                 from_cache ? " (remembered from an earlier start: nothing it depends on changed)"
                            : "");
}

/* Reads what each probe writes until every one has ended or the time is up. */
static void collect(apr_pool_t *p, si_probe *probes, int count)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(SI_PROBE_TIMEOUT_MS);
    struct pollfd *fds = apr_pcalloc(p, count * sizeof(*fds));
    for (;;) {
        int open = 0;
        for (int i = 0; i < count; i++) {
            fds[i].fd = probes[i].fd;
            fds[i].events = POLLIN;
            open += probes[i].fd >= 0;
        }
        apr_time_t left = deadline - apr_time_now();
        if (!open || left <= 0)
            return;
        if (poll(fds, count, (int)apr_time_as_msec(left) + 1) < 0 && errno != EINTR)
            return;
        for (int i = 0; i < count; i++) {
            if (probes[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t n = read(probes[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(probes[i].fd);
                probes[i].fd = -1;
                continue;
            }
            if (probes[i].len + n > SI_PROBE_REPORT_MAX) {
                /* keep the end: the module being imported when it died is the last line */
                apr_size_t keep = SI_PROBE_REPORT_MAX / 2;
                probes[i].truncated = 1;
                if (probes[i].len > keep) {
                    memmove(probes[i].report, probes[i].report + probes[i].len - keep, keep);
                    probes[i].len = keep;
                }
            }
            memcpy(probes[i].report + probes[i].len, buf, n);
            probes[i].len += n;
        }
    }
}

/* Each script no child could read, checked as the children's user; in the forked checker.
 * A process pool's scripts are read by its own processes, as its own user. */
static void report_unreadable(apr_array_header_t *specs, int fd)
{
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        if (spec->processes)
            continue;
        for (int k = 0; k < spec->mounts->nelts; k++) {
            si_mount_conf *mount = APR_ARRAY_IDX(spec->mounts, k, si_mount_conf *);
            if (access(mount->script, R_OK) != 0) {
                char line[32];
                int n = apr_snprintf(line, sizeof(line), "%d %d %d\n", i, k, errno);
                if (write(fd, line, n) != n)
                    return;
            }
        }
    }
}

apr_status_t si_probe_scripts_readable(apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *specs = si_config_pool_specs(ptemp, s);
    int fd;
    pid_t pid = specs->nelts ? fork_as_apache_user(&fd) : -1;
    if (pid == 0) {
        report_unreadable(specs, fd);
        _exit(0);
    }
    if (pid < 0)
        return APR_SUCCESS;
    char report[4096];
    apr_size_t len = 0;
    ssize_t n;
    while (len < sizeof(report) - 1 && (n = read(fd, report + len, sizeof(report) - 1 - len)) > 0)
        len += n;
    report[len] = '\0';
    close(fd);
    waitpid(pid, NULL, 0);
    apr_status_t rv = APR_SUCCESS;
    char *line, *state;
    for (line = apr_strtok(report, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        int i, k, err;
        if (sscanf(line, "%d %d %d", &i, &k, &err) != 3 || i < 0 || i >= specs->nelts)
            continue;
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        if (k < 0 || k >= spec->mounts->nelts)
            continue;
        si_mount_conf *mount = APR_ARRAY_IDX(spec->mounts, k, si_mount_conf *);
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, mount->server, "SI0116: %s (%s): the user "
                     "Apache's children run as (%s) cannot read %s: %s; grant it read "
                     "permission on the file and search permission on its directories",
                     mount->label, mount->defined_at ? mount->defined_at : "?",
                     geteuid() == 0 ? ap_unixd_config.user_name : "this user", mount->script,
                     strerror(err));
        rv = APR_EACCES;
    }
    return rv;
}

void si_probe_pools(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    si_server_conf *main_conf = si_server_config(s);
    if (main_conf->probe == 0)
        return;
    apr_array_header_t *specs = si_config_pool_specs(ptemp, s);
    si_probe *probes = apr_pcalloc(ptemp, (specs->nelts + 1) * sizeof(*probes));
    int count = 0;
    for (int i = 0; i < specs->nelts; i++) {
        si_pool_spec *spec = APR_ARRAY_IDX(specs, i, si_pool_spec *);
        spec->probe_failure = NULL;
        if (spec->mounts->nelts == 0 || spec->processes)
            continue;   /* a process pool's crash takes down one of its own processes only */
        si_probe *probe = &probes[count];
        probe->spec = spec;
        probe->cache_file = cache_file(ptemp, spec, main_conf->python_path);
        const char *known = cached(ptemp, probe->cache_file);
        if (known) {
            if (*known)
                failed(pconf, probe, known, 1);
            continue;
        }
        int fd;
        pid_t pid = fork_as_apache_user(&fd);
        if (pid == 0)
            run_probe(s, spec, fd);
        if (pid < 0)
            continue;
        probe->pid = pid;
        probe->fd = fd;
        probe->report = apr_palloc(ptemp, SI_PROBE_REPORT_MAX);
        count++;
    }
    collect(ptemp, probes, count);
    for (int i = 0; i < count; i++) {
        si_probe *probe = &probes[i];
        int status = 0;
        if (probe->fd >= 0) {   /* still importing after the time was up */
            kill(probe->pid, SIGKILL);
            close(probe->fd);
            waitpid(probe->pid, &status, 0);
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, probe->spec->server, "SI0306: pool %s: "
                         "its start-up imports did not finish within %d s in a probe process; "
                         "children load it without the check", probe->spec->name,
                         SI_PROBE_TIMEOUT_MS / 1000);
            continue;
        }
        while (waitpid(probe->pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFSIGNALED(status)) {
            const char *failure = describe(ptemp, probe, WTERMSIG(status));
            failed(pconf, probe, failure, 0);
            remember(ptemp, probe, failure);
        }
        else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            remember(ptemp, probe, NULL);
        }
        /* Any other exit (Python could not start as Apache's user, say): the children will
         * meet and log the same problem themselves; nothing is cached. */
    }
}
