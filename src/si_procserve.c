/* si_procserve.c — one process of a process pool (see si_procserve.h).
 *
 * Threads: `threads=` workers each accept a connection, serve its one request and close it;
 * the main thread waits for a signal (SIGTERM: stop; SIGUSR1: the parent restarted, so drain)
 * and for the pool to load.  A connection and its request record belong to the worker that
 * accepted it, and to app threads inside the request's I/O guard (si_request.h), as in a child.
 */
#include "si_procserve.h"
#include "si_request.h"
#include "si_runtime.h"
#include "si_pool.h"
#include "si_stats.h"
#include "si_wire.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_unixd.h"
#include "mpm_common.h"
#include "unixd.h"
#include "util_filter.h"
#include "scoreboard.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define SI_DRAIN_IDLE     apr_time_from_sec(5)    /* after a restart: idle this long, then go */
#define SI_STOP_GRACE     apr_time_from_sec(30)   /* requests' time to finish at a stop */

static ap_filter_rec_t *wire_in_filter, *wire_out_filter;

typedef struct {
    si_pool_spec *spec;
    server_rec *server;
    int index;
    int listen_fd;
    si_stats_proc *row;
    apr_interval_time_t io_timeout;
    pthread_t *workers;
    _Atomic int stopping;
    _Atomic int working;             /* workers still in their loop */
    _Atomic int active;              /* connections being served */
    _Atomic apr_uint64_t served;
    _Atomic apr_time_t last_active;
    int recycle_after;               /* gil=main with max-requests: the process is recycled */
    si_pool *pool;                   /* NULL if Python could not start */
    _Atomic int ready;               /* its apps are loaded (or failed to load) */
    _Atomic int recycle_asked;       /* it has signalled itself to go */
    _Atomic int recycle_wait_logged;
} si_server;

static si_server server;

/* One connection: the wire both ways, as filter context. */
typedef struct {
    int fd;
    si_wire_buf in;                  /* received, not yet taken */
    si_wire_buf out;                 /* to send */
    request_rec *r;
    int head_sent, ended, aborted, broken;
    int input_done;
    apr_status_t input_error;
    const char *pending;             /* the rest of the body frame last taken from `in`: it stays
                                      * put until the next receive, which waits for it to be
                                      * used up */
    apr_size_t pending_len;
} si_wire_conn;

/* Blocks until a whole frame is in c->in: 1, or 0 at EOF / on an error (logged by the caller). */
static int next_frame(si_wire_conn *c, apr_size_t max, char *type, si_wire_reader *payload)
{
    for (;;) {
        int got = si_wire_take(&c->in, max, type, payload);
        if (got != 0)
            return got > 0;
        if (si_wire_recv(c->fd, &c->in) <= 0)
            return 0;
    }
}

static int send_out(si_wire_conn *c)
{
    if (!c->broken && si_wire_send(c->fd, &c->out) < 0)
        c->broken = 1;
    c->out.start = c->out.end = 0;
    return c->broken ? -1 : 0;
}

/* --- the request body: frames from the child ------------------------------------------------ */

static apr_status_t wire_in(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                            apr_read_type_e block, apr_off_t readbytes)
{
    si_wire_conn *c = f->ctx;
    if (mode != AP_MODE_READBYTES)
        return APR_ENOTIMPL;
    if (c->input_error)
        return c->input_error;
    while (!c->input_done && c->pending_len == 0) {
        char type;
        si_wire_reader rd;
        if (!next_frame(c, SI_WIRE_CHUNK, &type, &rd))
            return c->input_error = APR_ECONNABORTED;
        if (type == 'D') {
            c->pending = rd.p;
            c->pending_len = rd.end - rd.p;
        }
        else if (type == 'E') {
            c->input_done = 1;
        }
        else {
            /* 'X': what the child's read of the client's body got (ENOSPC: over
             * LimitRequestBody, EINVAL: malformed), for si_input.c to answer as in a child */
            apr_status_t rv = type == 'X' ? (apr_status_t)si_wire_get_u32(&rd) : APR_EGENERAL;
            return c->input_error = rv ? rv : APR_EGENERAL;
        }
    }
    if (c->pending_len == 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
        return APR_SUCCESS;
    }
    apr_size_t n = readbytes > 0 && (apr_size_t)readbytes < c->pending_len
                   ? (apr_size_t)readbytes : c->pending_len;
    /* A heap bucket's copy goes with the bucket: r->pool would keep every piece of the body */
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(c->pending, n, NULL, f->c->bucket_alloc));
    c->pending += n;
    c->pending_len -= n;
    return APR_SUCCESS;
}

/* --- the response: frames to the child -------------------------------------------------------- */

static int put_table(si_wire_buf *b, apr_table_t *t)
{
    const apr_array_header_t *arr = apr_table_elts(t);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int rc = si_wire_put_u32(b, (apr_uint32_t)arr->nelts);
    for (int i = 0; i < arr->nelts && rc == 0; i++)
        rc = si_wire_put_str(b, e[i].key) < 0 || si_wire_put_str(b, e[i].val) < 0 ? -1 : 0;
    return rc;
}

static int put_head(si_wire_conn *c)
{
    request_rec *r = c->r;
    apr_size_t at;
    if (si_wire_begin(&c->out, 'H', &at) < 0 || si_wire_put_u32(&c->out, r->status) < 0
        || si_wire_put_str(&c->out, r->status_line) < 0
        || si_wire_put_str(&c->out, r->content_type) < 0
        || put_table(&c->out, r->headers_out) < 0 || put_table(&c->out, r->err_headers_out) < 0)
        return -1;
    si_wire_end(&c->out, at);
    c->head_sent = 1;
    return 0;
}

static apr_status_t wire_out(ap_filter_t *f, apr_bucket_brigade *bb)
{
    si_wire_conn *c = f->ctx;
    apr_status_t rv = APR_SUCCESS;
    if (!c->broken && !c->aborted && !c->head_sent && put_head(c) < 0)
        c->broken = 1;
    for (apr_bucket *b = APR_BRIGADE_FIRST(bb);
         b != APR_BRIGADE_SENTINEL(bb) && !c->broken && !c->aborted && !c->ended;
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            c->ended = 1;
            si_wire_frame(&c->out, 'E', NULL, 0);
        }
        else if (APR_BUCKET_IS_FLUSH(b)) {
            si_wire_frame(&c->out, 'F', NULL, 0);
            send_out(c);
        }
        else if (AP_BUCKET_IS_ERROR(b)) {
            c->aborted = 1;   /* cut short: the child sees no 'E' and cuts the client's short */
        }
        else if (!APR_BUCKET_IS_METADATA(b)) {
            const char *data;
            apr_size_t len;
            if ((rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ)) != APR_SUCCESS)
                break;
            while (len > 0 && !c->broken) {
                apr_size_t n = len > SI_WIRE_CHUNK ? SI_WIRE_CHUNK : len;
                if (si_wire_frame(&c->out, 'D', data, n) < 0)
                    c->broken = 1;
                data += n;
                len -= n;
                if (c->out.end - c->out.start >= SI_WIRE_CHUNK)
                    send_out(c);
            }
        }
    }
    if (c->out.end > c->out.start && !c->aborted)
        send_out(c);
    apr_brigade_cleanup(bb);
    if (rv != APR_SUCCESS)
        return rv;
    return c->broken ? APR_ECONNABORTED : APR_SUCCESS;
}

void si_procserve_register(apr_pool_t *p)
{
    wire_in_filter = ap_register_input_filter("SUBINTERP_WIRE_IN", wire_in, NULL,
                                              AP_FTYPE_NETWORK);
    wire_out_filter = ap_register_output_filter("SUBINTERP_WIRE_OUT", wire_out, NULL,
                                                AP_FTYPE_NETWORK);
}

/* --- one connection ------------------------------------------------------------------------ */

static apr_sockaddr_t *address(apr_pool_t *p, const char *ip, apr_port_t port)
{
    apr_sockaddr_t *sa = NULL;
    if (apr_sockaddr_info_get(&sa, ip, APR_UNSPEC, port, APR_IPV4_ADDR_OK, p) != APR_SUCCESS
        || !sa)
        apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, port, 0, p);
    return sa;
}

/* The 'Q' frame into a request record that stands in for the child's; NULL if malformed.  The
 * CGI variables point into a copy of the frame in p, so reading the body (which receives into
 * the buffer the frame came in) cannot move them. */
static request_rec *request_from(apr_pool_t *p, si_wire_conn *wc, si_wire_reader *frame,
                                 si_mount_conf **mount, si_cgi_list *vars)
{
    char *copy = apr_pmemdup(p, frame->p, frame->end - frame->p);
    si_wire_reader payload = {.p = copy, .end = copy + (frame->end - frame->p)};
    si_wire_reader *rd = &payload;
    apr_uint32_t index = si_wire_get_u32(rd);
    if (rd->bad || index >= (apr_uint32_t)server.spec->mounts->nelts)
        return NULL;
    *mount = APR_ARRAY_IDX(server.spec->mounts, index, si_mount_conf *);
    conn_rec *c = apr_pcalloc(p, sizeof(*c));
    request_rec *r = apr_pcalloc(p, sizeof(*r));
    r->method = si_wire_get_str(rd, p);
    r->uri = (char *)si_wire_get_str(rd, p);
    r->unparsed_uri = (char *)si_wire_get_str(rd, p);
    const char *args = si_wire_get_str(rd, p);
    r->args = *args ? (char *)args : NULL;
    r->protocol = (char *)si_wire_get_str(rd, p);
    r->hostname = si_wire_get_str(rd, p);
    r->filename = (char *)si_wire_get_str(rd, p);
    r->path_info = (char *)si_wire_get_str(rd, p);
    r->useragent_ip = (char *)si_wire_get_str(rd, p);
    c->client_ip = (char *)si_wire_get_str(rd, p);
    c->local_ip = (char *)si_wire_get_str(rd, p);
    apr_port_t client_port = (apr_port_t)si_wire_get_u32(rd);
    apr_port_t local_port = (apr_port_t)si_wire_get_u32(rd);
    r->header_only = si_wire_get_u32(rd) != 0;
    vars->https = si_wire_get_u32(rd) != 0;
    apr_uint32_t count = si_wire_get_u32(rd);
    if (rd->bad || count > 100000)
        return NULL;
    si_cgi_var *v = apr_palloc(p, (count + 1) * sizeof(*v));
    for (apr_uint32_t i = 0; i < count && !rd->bad; i++) {
        apr_uint32_t op_key = si_wire_get_u32(rd);
        v[i].op = (si_cgi_op)(op_key >> 8);
        v[i].key = (si_cgi_key)(op_key & 0xff);
        if (v[i].op > SI_CGI_REMOVE || v[i].key >= SI_CGI_KEY_COUNT)
            rd->bad = 1;
        v[i].name = si_wire_get_bytes(rd, &v[i].name_len);
        v[i].value = si_wire_get_bytes(rd, &v[i].value_len);
    }
    if (rd->bad)
        return NULL;
    vars->vars = v;
    vars->count = (int)count;

    c->pool = p;
    c->base_server = (*mount)->server;
    c->conn_config = ap_create_conn_config(p);
    c->notes = apr_table_make(p, 4);
    c->bucket_alloc = apr_bucket_alloc_create(p);
    c->client_addr = address(p, c->client_ip, client_port);
    c->local_addr = address(p, c->local_ip, local_port);
    c->keepalive = AP_CONN_CLOSE;
    c->log = &c->base_server->log;
    /* A scoreboard handle that names no slot (every update with it returns at once): Apache's
     * error log says [client IP:port] for a connection that has one, as in a child, and
     * [remote ...] otherwise. */
    ap_sb_handle_t *no_slot;
    ap_create_sb_handle(&no_slot, p, -1, -1);
    c->sbh = no_slot;
    c->id = (long)getpid() << 16 ^ (long)(apr_uintptr_t)wc;
    ap_add_input_filter_handle(wire_in_filter, wc, NULL, c);
    ap_add_output_filter_handle(wire_out_filter, wc, NULL, c);

    r->pool = p;
    r->connection = c;
    r->server = (*mount)->server;
    r->log = &r->server->log;
    r->request_time = apr_time_now();
    r->the_request = apr_pstrcat(p, r->method, " ", r->unparsed_uri, " ", r->protocol, NULL);
    r->method_number = ap_method_number_of(r->method);
    r->proto_num = strcmp(r->protocol, "HTTP/1.0") == 0 ? HTTP_VERSION(1, 0)
                   : HTTP_VERSION(1, 1);
    r->useragent_addr = c->client_addr;
    r->status = HTTP_OK;
    r->headers_in = apr_table_make(p, 1);
    r->headers_out = apr_table_make(p, 8);
    r->err_headers_out = apr_table_make(p, 2);
    r->subprocess_env = apr_table_make(p, 1);
    r->notes = apr_table_make(p, 4);
    r->per_dir_config = r->server->lookup_defaults;
    r->request_config = ap_create_request_config(p);
    r->allowed_methods = ap_make_method_list(p, 2);
    r->handler = SI_HANDLER;
    r->input_filters = r->proto_input_filters = c->input_filters;
    r->output_filters = r->proto_output_filters = c->output_filters;
    wc->r = r;
    return r;
}

static void tell_status(si_wire_conn *c, int status)
{
    apr_size_t at;
    if (si_wire_begin(&c->out, 'S', &at) == 0 && si_wire_put_u32(&c->out, status) == 0
        && put_table(&c->out, c->r->err_headers_out) == 0) {
        si_wire_end(&c->out, at);
        send_out(c);
    }
}

static void serve_connection(apr_pool_t *p, int fd)
{
    si_wire_conn *wc = apr_pcalloc(p, sizeof(*wc));
    wc->fd = fd;
    char type;
    si_wire_reader rd;
    si_mount_conf *mount;
    si_cgi_list vars;
    request_rec *r;
    if (si_wire_frame(&wc->out, 'A', NULL, 0) < 0 || send_out(wc) < 0)
        goto done;
    if (!next_frame(wc, SI_WIRE_HEAD_MAX, &type, &rd) || type != 'Q'
        || !(r = request_from(p, wc, &rd, &mount, &vars))) {
        /* Nothing at all: the child stopped waiting (queue-timeout) before we took it. */
        int silent = wc->in.end == 0;
        ap_log_error(APLOG_MARK, silent ? APLOG_INFO : APLOG_ERR, 0, server.server, "SI0703: "
                     "pool %s process %d: a connection on its socket %s; closed",
                     server.spec->name, server.index, silent ? "was given up before it was "
                     "taken" : "sent no valid request");
        goto done;
    }
    int status = si_request_handle_forwarded(r, mount, &vars);
    if (!wc->head_sent && !wc->broken && status != OK)
        tell_status(wc, status);
    else if (!wc->head_sent && !wc->broken) {
        /* OK with nothing sent (an app that never produced a byte): an empty response */
        apr_bucket_brigade *bb = apr_brigade_create(p, r->connection->bucket_alloc);
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
        ap_pass_brigade(r->output_filters, bb);
    }
done:
    si_wire_buf_free(&wc->in);
    si_wire_buf_free(&wc->out);
}

/* Only Apache's children (and root) may talk to us; the socket's mode says so already, and
 * this holds even if the mode was changed underneath. */
static int peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    if (cred.uid == 0 || cred.uid == ap_unixd_config.user_id || cred.uid == geteuid())
        return 1;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, server.server, "SI0704: pool %s process %d: a "
                 "connection from uid %ld (pid %ld) refused: only Apache's children may "
                 "connect", server.spec->name, server.index, (long)cred.uid, (long)cred.pid);
    return 0;
}

/* After each request once max-requests is reached, on any worker: the process goes when its
 * pool's turn is free (si_stats.h), and serves on meanwhile. */
static void recycle_in_turn(void)
{
    if (atomic_load(&server.recycle_asked))
        return;
    int holder;
    if (!si_stats_recycle_turn_take(server.spec, server.index, &holder)) {
        if (!atomic_exchange(&server.recycle_wait_logged, 1))
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, server.server, "SI0707: pool %s process %d "
                         "(pid %" APR_PID_T_FMT ") served max-requests=%d; it serves on until "
                         "the successor of process %d, recycled before it, serves",
                         server.spec->name, server.index, getpid(), server.recycle_after,
                         holder);
        return;
    }
    if (!atomic_exchange(&server.recycle_asked, 1))
        kill(getpid(), SIGTERM);   /* the main thread's sigwait stops it, saying RECYCLING */
}

static int note_failure(si_pool *pool, si_stats_proc *row);

/* Once the pool's apps are loaded (or failed to): ready on the status page, and the recycle turn
 * given back.  By the first worker through, or the main thread's next look. */
static void mark_ready(void)
{
    if (!server.pool || atomic_exchange(&server.ready, 1) || !server.row)
        return;
    /* A successor whose apps failed to load keeps the recycle turn: the processes that still
     * run the apps that loaded serve on (until it is recycled itself). */
    if (!note_failure(server.pool, server.row))
        si_stats_recycle_turn_give(server.spec, server.index);
    atomic_store(&server.row->state, SI_PROC_READY);
}

static void *worker(void *unused)
{
    apr_pool_t *thread_pool;
    apr_pool_create_unmanaged_ex(&thread_pool, NULL, NULL);
    struct timeval tv = {.tv_sec = apr_time_sec(server.io_timeout)};
    /* No connection before the apps are loaded: a successor would hold the requests it took
     * for the whole of its start while the other processes were free.  When every process is
     * starting, connections wait in the socket's backlog instead, for as long. */
    int started = 0;
    while (server.pool && !atomic_load(&server.stopping)
           && !(started = si_pool_wait_started(server.pool, apr_time_from_msec(100))))
        ;
    if (started)
        mark_ready();
    while (!atomic_load(&server.stopping)) {
        int fd = accept4(server.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
                apr_sleep(apr_time_from_msec(10));
            continue;
        }
        if (atomic_load(&server.stopping)) {
            close(fd);   /* never answered ('A'): the child connects again, to another process */
            break;
        }
        atomic_fetch_add(&server.active, 1);
        if (server.row)
            atomic_fetch_add(&server.row->active, 1);
        if (peer_allowed(fd)) {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            apr_pool_t *p;
            apr_pool_create(&p, thread_pool);
            serve_connection(p, fd);
            apr_pool_destroy(p);
        }
        close(fd);
        atomic_store(&server.last_active, apr_time_now());
        if (server.row) {
            atomic_fetch_sub(&server.row->active, 1);
            atomic_fetch_add(&server.row->requests, 1);
        }
        atomic_fetch_sub(&server.active, 1);
        apr_uint64_t served = atomic_fetch_add(&server.served, 1) + 1;
        if (server.recycle_after && served >= (apr_uint64_t)server.recycle_after)
            recycle_in_turn();
    }
    atomic_fetch_sub(&server.working, 1);
    apr_pool_destroy(thread_pool);
    return NULL;
}

static void wake(int sig)
{
    (void)sig;   /* interrupts accept(): the worker then sees `stopping` */
}

static void become_user(void)
{
    if (geteuid() != 0)
        return;
    si_pool_spec *spec = server.spec;
    uid_t uid = spec->user ? spec->uid : ap_unixd_config.user_id;
    gid_t gid = spec->user || spec->group ? spec->gid : ap_unixd_config.group_id;
    const char *name = spec->user ? spec->user : ap_unixd_config.user_name;
    if (setgid(gid) != 0 || initgroups(name, gid) != 0 || setuid(uid) != 0 || getuid() != uid) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, errno, server.server, "SI0705: pool %s process "
                     "%d could not become user %s (uid %ld, gid %ld); it exits", spec->name,
                     server.index, name, (long)uid, (long)gid);
        _exit(2);
    }
}

/* Why the pool's apps failed to load here, if they did, for the status page of every child.
 * 1 if they did. */
static int note_failure(si_pool *pool, si_stats_proc *row)
{
    const char *why = pool->spec->probe_failure;
    si_lock(pool->lock);
    for (int k = 0; !why && k < pool->slot_count; k++) {
        si_instance *inst = pool->slots[k].current;
        for (int m = 0; inst && inst->apps_failed && !why && m < pool->spec->mounts->nelts; m++) {
            const char *text = si_instance_failure(inst, APR_ARRAY_IDX(pool->spec->mounts, m,
                                                                        si_mount_conf *));
            why = *text ? text : NULL;
        }
        if (!why && !inst)
            why = "an interpreter could not be made (see SI02xx in the error log)";
    }
    apr_cpystrn(row->failure, why ? why : "", sizeof(row->failure));
    si_unlock(pool->lock);
    return why != NULL;
}

/* pchild as an MPM makes it for a child: an allocator of its own with a mutex, since every
 * thread of ours allocates from it or from pools below it. */
static apr_pool_t *make_process_pool(apr_pool_t *pconf)
{
    apr_allocator_t *allocator;
    apr_thread_mutex_t *mutex;
    apr_pool_t *pchild;
    apr_allocator_create(&allocator);
    apr_allocator_max_free_set(allocator, ap_max_mem_free);
    apr_pool_create_ex(&pchild, pconf, NULL, allocator);
    apr_allocator_owner_set(allocator, pchild);
    apr_thread_mutex_create(&mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
    apr_allocator_mutex_set(allocator, mutex);
    apr_pool_tag(pchild, "subinterp process");
    return pchild;
}

void si_procserve_main(apr_pool_t *pconf, server_rec *s, si_pool_spec *spec, int index,
                       int listen_fd, apr_interval_time_t delay)
{
    pid_t parent = getppid();
    server = (si_server){.spec = spec, .server = spec->server, .index = index,
                         .listen_fd = listen_fd, .row = si_stats_process(spec, index),
                         .io_timeout = s->timeout};
    /* Signals: the main thread takes them with sigwait; workers get SIGUSR2 to leave accept. */
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGHUP);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGUSR1);
    sigaddset(&waited, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &waited, NULL);
    struct sigaction sa = {.sa_handler = wake};
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    if (delay > 0) {
        struct timespec backoff = {.tv_sec = apr_time_sec(delay),
                                   .tv_nsec = (long)apr_time_usec(delay) * 1000};
        int sig = sigtimedwait(&waited, NULL, &backoff);
        if (sig > 0 && sig != SIGWINCH)
            _exit(0);   /* stopped (or restarted) while it waited */
    }
    if (server.row)
        atomic_store(&server.row->state, SI_PROC_STARTING);
    become_user();
    prctl(PR_SET_PDEATHSIG, SIGTERM);   /* after setuid, which clears it */
    if (getppid() != parent)
        _exit(0);
    prctl(PR_SET_DUMPABLE, 1);          /* a crash leaves a core, as Apache's children do */

    if (spec->gil == SI_GIL_MAIN && spec->max_requests) {
        server.recycle_after = spec->max_requests;   /* the main interpreter stays: the */
        spec->max_requests = 0;                      /* process is what gets replaced */
    }
    si_config_serve_only(spec, index);
    apr_pool_t *pchild = make_process_pool(pconf);
    si_runtime_child_init(pchild, s);
    si_pool *pool = si_runtime_pool(spec);
    server.pool = pool;

    server.working = spec->threads;
    server.workers = apr_pcalloc(pchild, spec->threads * sizeof(pthread_t));
    for (int i = 0; i < spec->threads; i++)
        if (pthread_create(&server.workers[i], NULL, worker, NULL) != 0) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, "SI0705: pool %s process %d: "
                         "thread %d could not start", spec->name, index, i);
            server.workers[i] = 0;
            atomic_fetch_sub(&server.working, 1);
        }

    int draining = 0;
    struct timespec tick = {.tv_nsec = 200 * 1000 * 1000};
    for (;;) {
        int sig = sigtimedwait(&waited, NULL, &tick);
        if (sig == SIGUSR1)
            draining = 1;
        else if (sig > 0 && sig != SIGWINCH)
            break;
        if (pool && !atomic_load(&server.ready) && !si_pool_is_starting(pool))
            mark_ready();
        if (draining && atomic_load(&server.active) == 0
            && apr_time_now() - atomic_load(&server.last_active) > SI_DRAIN_IDLE)
            break;
        if (atomic_load(&server.working) == 0)
            break;
    }

    int recycled = server.recycle_after
                   && atomic_load(&server.served) >= (apr_uint64_t)server.recycle_after;
    if (server.row)
        atomic_store(&server.row->state, recycled ? SI_PROC_RECYCLING : SI_PROC_STOPPING);
    atomic_store(&server.stopping, 1);
    apr_time_t until = apr_time_now() + SI_STOP_GRACE;
    while (atomic_load(&server.working) > 0 && apr_time_now() < until) {
        for (int i = 0; i < spec->threads; i++)
            if (server.workers[i])
                pthread_kill(server.workers[i], SIGUSR2);
        apr_sleep(apr_time_from_msec(50));
    }
    if (atomic_load(&server.working) > 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "SI0706: pool %s process %d (pid %"
                     APR_PID_T_FMT "): %d request(s) still ran %d s after it began to stop; "
                     "it exits without finalizing Python", spec->name, index, getpid(),
                     atomic_load(&server.active), (int)apr_time_sec(SI_STOP_GRACE));
        _exit(0);
    }
    for (int i = 0; i < spec->threads; i++)
        if (server.workers[i])
            pthread_join(server.workers[i], NULL);
    apr_pool_destroy(pchild);
    _exit(0);
}
