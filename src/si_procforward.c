/* si_procforward.c — an Apache child forwards a request to a process pool (si_procforward.h).
 *
 * The request goes out as si_cgi.c's variables (so the app's environ is what it would be in a
 * child), then the body; the response comes back at the same time, so an app that answers
 * before it has read the body, or streams one into the other, works.  Memory stays bounded: at
 * most a frame or two each way is held.  Everything here runs on the request's worker thread.
 *
 * Failures the child answers itself: no process took the request within queue-timeout (503,
 * SI0710), the process ended the connection before it answered (502, SI0711), or it gave no
 * byte for the I/O timeout (504, SI0712).  After the headers went out, the client's response is
 * cut short instead, as for an app that fails mid-response in a child.
 */
#include "si_procforward.h"
#include "si_cgi.h"
#include "si_wire.h"
#include "si_stats.h"

#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "ap_mpm.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct {
    si_cgi_sink base;
    si_wire_buf *buf;
    apr_uint32_t count;
} wire_sink;

static int wire_put(si_cgi_sink *sink, si_cgi_op op, si_cgi_key key, const char *name,
                    apr_size_t name_len, const char *value, apr_size_t value_len)
{
    wire_sink *ws = (wire_sink *)sink;
    if (si_wire_put_u32(ws->buf, (apr_uint32_t)op << 8 | (apr_uint32_t)key) < 0
        || si_wire_put_bytes(ws->buf, name, name_len) < 0
        || si_wire_put_bytes(ws->buf, value, value_len) < 0)
        return -1;   /* si_cgi_vars stops and says so */
    ws->count++;
    return 0;
}

static apr_status_t free_buf(void *data)
{
    si_wire_buf_free(data);
    return APR_SUCCESS;
}

/* The 'Q' frame into out. */
static int put_request(request_rec *r, si_mount_conf *mount, si_wire_buf *out)
{
    si_wire_buf vars = {0};
    wire_sink sink = {.base.put = wire_put, .buf = &vars};
    si_cgi_mapping map;
    si_cgi_map(r, mount, &map);
    int https = 0;
    conn_rec *c = r->connection;
    apr_size_t at;
    int rc = si_cgi_vars(r, &map, &sink.base, &https) < 0 || si_wire_begin(out, 'Q', &at) < 0
             || si_wire_put_u32(out, (apr_uint32_t)mount->index) < 0
             || si_wire_put_str(out, r->method) < 0 || si_wire_put_str(out, r->uri) < 0
             || si_wire_put_str(out, r->unparsed_uri) < 0 || si_wire_put_str(out, r->args) < 0
             || si_wire_put_str(out, r->protocol) < 0 || si_wire_put_str(out, r->hostname) < 0
             || si_wire_put_str(out, r->filename) < 0 || si_wire_put_str(out, r->path_info) < 0
             || si_wire_put_str(out, r->useragent_ip) < 0
             || si_wire_put_str(out, c->client_ip) < 0 || si_wire_put_str(out, c->local_ip) < 0
             || si_wire_put_u32(out, c->client_addr ? c->client_addr->port : 0) < 0
             || si_wire_put_u32(out, c->local_addr ? c->local_addr->port : 0) < 0
             || si_wire_put_u32(out, r->header_only) < 0 || si_wire_put_u32(out, https) < 0
             || si_wire_put_u32(out, sink.count) < 0
             || si_wire_put_raw(out, vars.data + vars.start, vars.end - vars.start) < 0 ? -1 : 0;
    si_wire_buf_free(&vars);
    if (rc == 0)
        si_wire_end(out, at);
    return rc;
}

/* A connection to one of spec's processes that a process took ('A' received), or -1 after the
 * queue-timeout, or -2 when the pool's socket is not there. */
static int connect_to_process(request_rec *r, si_pool_spec *spec, si_wire_buf *in)
{
    apr_time_t deadline = apr_time_now() + spec->queue_timeout;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    apr_cpystrn(addr.sun_path, spec->socket_path, sizeof(addr.sun_path));
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return -2;
        int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
        if (rc != 0 && errno != EAGAIN) {
            close(fd);
            return -2;
        }
        /* Connected (or its backlog is full: EAGAIN, wait and try again); now a process must
         * take it.  A process that is stopping closes what it accepted without a word, and a
         * killed one drops its backlog share: then try again. */
        int taken = 0;
        while (rc == 0 && !taken) {
            apr_time_t left = deadline - apr_time_now();
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (left <= 0 || poll(&pfd, 1, (int)(apr_time_as_msec(left) + 1)) == 0)
                break;
            apr_ssize_t n = si_wire_recv(fd, in);
            if (n < 0 && errno == EAGAIN)
                continue;
            if (n <= 0)
                break;
            char type;
            si_wire_reader rd;
            taken = si_wire_take(in, 0, &type, &rd) == 1 && type == 'A';
            if (!taken && in->end - in->start >= 5)
                break;   /* not our protocol */
        }
        if (taken)
            return fd;
        close(fd);
        in->start = in->end = 0;
        /* A child that is stopping does not keep its request waiting for a process: its
         * graceful stop would wait as long. */
        int mpm_state = AP_MPMQ_RUNNING;
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if (apr_time_now() >= deadline || mpm_state == AP_MPMQ_STOPPING)
            return -1;
        apr_sleep(apr_time_from_msec(rc == 0 ? 1 : 10));
    }
}

static void get_table(si_wire_reader *rd, apr_pool_t *p, apr_table_t *into)
{
    apr_uint32_t n = si_wire_get_u32(rd);
    for (apr_uint32_t i = 0; i < n && !rd->bad; i++) {
        const char *key = si_wire_get_str(rd, p);
        const char *value = si_wire_get_str(rd, p);
        if (!rd->bad)
            apr_table_addn(into, key, value);
    }
}

typedef struct {
    request_rec *r;
    si_pool_spec *spec;
    int fd;
    si_wire_buf in, out;
    int body_state;        /* 0: the client's body is being sent; 1: all sent; 2: not wanted */
    int head;              /* 0: nothing yet; 'H': the response's head; 'S': a status */
    int status;            /* the 'S' status */
    int complete;          /* 'E' arrived */
    int client_gone;
    int input_status;      /* AP_FILTER_ERROR: Apache answered the client already */
    apr_bucket_brigade *bb;
} si_forward;

static apr_status_t close_connection(void *data)
{
    si_forward *f = data;
    close(f->fd);
    return APR_SUCCESS;
}

/* The next part of the client's body, as frames into f->out. */
static void read_body(si_forward *f)
{
    request_rec *r = f->r;
    apr_status_t rv = ap_get_brigade(r->input_filters, f->bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                                     SI_WIRE_CHUNK);
    if (rv != APR_SUCCESS) {
        char msg[120];
        si_cgi_body_read_failed(r, rv, msg, sizeof(msg));
        if (rv == AP_FILTER_ERROR)
            f->input_status = AP_FILTER_ERROR;
        apr_size_t at;
        if (si_wire_begin(&f->out, 'X', &at) == 0 && si_wire_put_u32(&f->out, rv) == 0)
            si_wire_end(&f->out, at);
        f->body_state = 1;
        apr_brigade_cleanup(f->bb);
        return;
    }
    for (apr_bucket *b = APR_BRIGADE_FIRST(f->bb); b != APR_BRIGADE_SENTINEL(f->bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            si_wire_frame(&f->out, 'E', NULL, 0);
            f->body_state = 1;
            break;
        }
        const char *data;
        apr_size_t len;
        if (APR_BUCKET_IS_METADATA(b) || apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != 0)
            continue;
        if (len)
            si_wire_frame(&f->out, 'D', data, len);
    }
    apr_brigade_cleanup(f->bb);
}

/* Takes the frames f->in holds; passes what the client gets.  -1 when the stream is broken. */
static int take_frames(si_forward *f)
{
    request_rec *r = f->r;
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    char type;
    si_wire_reader rd;
    int got;
    while (!f->complete && f->head != 'S'
           && (got = si_wire_take(&f->in, SI_WIRE_HEAD_MAX, &type, &rd)) != 0) {
        if (got < 0)
            return -1;
        if (type == 'H' && !f->head) {
            r->status = (int)si_wire_get_u32(&rd);
            const char *line = si_wire_get_str(&rd, r->pool);
            const char *type_ = si_wire_get_str(&rd, r->pool);
            r->status_line = *line ? line : NULL;
            if (*type_)
                ap_set_content_type(r, type_);
            get_table(&rd, r->pool, r->headers_out);
            get_table(&rd, r->pool, r->err_headers_out);
            const char *length = apr_table_get(r->headers_out, "Content-Length");
            if (length)
                ap_set_content_length(r, apr_atoi64(length));
            if (rd.bad || r->status < 100 || r->status > 999)
                return -1;
            f->head = 'H';
        }
        else if (type == 'S' && !f->head) {
            f->status = (int)si_wire_get_u32(&rd);
            get_table(&rd, r->pool, r->err_headers_out);
            f->head = 'S';
        }
        else if (type == 'D' && f->head == 'H') {
            APR_BRIGADE_INSERT_TAIL(f->bb, apr_bucket_heap_create(rd.p, rd.end - rd.p, NULL, ba));
        }
        else if (type == 'F' && f->head == 'H') {
            APR_BRIGADE_INSERT_TAIL(f->bb, apr_bucket_flush_create(ba));
        }
        else if (type == 'E' && f->head == 'H') {
            APR_BRIGADE_INSERT_TAIL(f->bb, apr_bucket_eos_create(ba));
            f->complete = 1;
        }
        else {
            return -1;
        }
    }
    if (!APR_BRIGADE_EMPTY(f->bb) && f->input_status != AP_FILTER_ERROR && !f->client_gone) {
        apr_status_t rv = ap_pass_brigade(r->output_filters, f->bb);
        if (rv != APR_SUCCESS) {
            f->client_gone = 1;
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, "SI0430: client went away while %s "
                          "was being sent", r->uri);
        }
    }
    apr_brigade_cleanup(f->bb);
    return 0;
}

/* Both directions until the response is complete; what the handler returns. */
static int exchange(si_forward *f)
{
    request_rec *r = f->r;
    apr_interval_time_t quiet = r->server->timeout;
    if (f->spec->request_timeout + apr_time_from_sec(5) > quiet)
        quiet = f->spec->request_timeout + apr_time_from_sec(5);
    int broken = 0;
    while (!f->complete && f->head != 'S' && !f->client_gone && !broken) {
        int want_out = f->out.end > f->out.start || f->body_state == 0;
        struct pollfd pfd = {.fd = f->fd, .events = POLLIN | (want_out ? POLLOUT : 0)};
        int n = poll(&pfd, 1, (int)apr_time_as_msec(quiet));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0712: pool %s: its process sent "
                          "nothing for %" APR_TIME_T_FMT " s while serving %s; giving up",
                          f->spec->name, apr_time_sec(quiet), r->uri);
            if (!f->head)
                return HTTP_GATEWAY_TIME_OUT;
            broken = 1;
            break;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            apr_ssize_t got = si_wire_recv(f->fd, &f->in);
            if (got < 0 && errno == EAGAIN)
                got = 1;
            if (got <= 0 || take_frames(f) < 0)
                broken = got <= 0 ? 2 : 1;
            if (broken)
                break;
        }
        if ((pfd.revents & POLLOUT) && want_out) {
            if (f->out.end == f->out.start && f->body_state == 0)
                read_body(f);
            if (si_wire_send(f->fd, &f->out) < 0) {
                f->body_state = 2;   /* the app answered without wanting the rest */
                f->out.start = f->out.end = 0;
            }
        }
    }
    if (f->input_status == AP_FILTER_ERROR)
        return AP_FILTER_ERROR;
    if (f->head == 'S')
        return f->status;
    if (f->complete || f->client_gone)
        return OK;
    if (!f->head) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0711: pool %s: the process serving %s "
                      "ended the connection before it answered (it died, or was killed); "
                      "answering 502", f->spec->name, r->uri);
        si_stats_add(f->spec, SI_STAT_EXCEPTIONS);
        return HTTP_BAD_GATEWAY;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0711: pool %s: the response to %s was cut "
                  "short (%s); the client's is cut short too", f->spec->name, r->uri,
                  broken == 1 ? "malformed or silent" : "the app failed after its headers, or "
                  "the process died");
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    r->connection->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(f->bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(f->bb, apr_bucket_eos_create(ba));
    ap_pass_brigade(r->output_filters, f->bb);
    apr_brigade_cleanup(f->bb);
    return OK;
}

int si_procforward_handle(request_rec *r, si_mount_conf *mount)
{
    si_pool_spec *spec = mount->pool_spec;
    if (spec->unavailable || !spec->socket_path) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0710: process pool %s has no processes, "
                      "so %s answers 503: %s", spec->name, r->uri,
                      spec->unavailable ? spec->unavailable : "they were not started");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (si_cgi_body_too_large(r))
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    si_forward *f = apr_pcalloc(r->pool, sizeof(*f));
    f->r = r;
    f->spec = spec;
    apr_pool_cleanup_register(r->pool, &f->in, free_buf, apr_pool_cleanup_null);
    apr_pool_cleanup_register(r->pool, &f->out, free_buf, apr_pool_cleanup_null);
    if (put_request(r, mount, &f->out) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0713: pool %s: %s could not be encoded "
                      "for its process (no memory?)", spec->name, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    f->fd = connect_to_process(r, spec, &f->in);
    if (f->fd < 0) {
        si_stats_add(spec, SI_STAT_REJECTED);
        apr_table_setn(r->err_headers_out, "Retry-After", "1");
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "SI0710: pool %s: %s for %s; answering "
                      "503", spec->name, f->fd == -1 ? apr_psprintf(r->pool, "no process took "
                      "the request within queue-timeout=%" APR_TIME_T_FMT " s",
                      apr_time_sec(spec->queue_timeout)) : "its socket is gone (Apache is "
                      "stopping?)", r->uri);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    apr_pool_cleanup_register(r->pool, f, close_connection, apr_pool_cleanup_null);
    f->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_table_setn(r->notes, "subinterp-pool", spec->name);
    return exchange(f);
}
