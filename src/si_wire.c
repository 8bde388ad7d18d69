/* si_wire.c — frames between an Apache child and a process pool's process (see si_wire.h). */
#include "si_wire.h"

#include <errno.h>
#include <sys/socket.h>

void si_wire_buf_free(si_wire_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

static int reserve(si_wire_buf *b, apr_size_t more)
{
    if (b->start > 0 && b->start == b->end)
        b->start = b->end = 0;
    if (b->end + more <= b->cap)
        return 0;
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        if (b->end + more <= b->cap)
            return 0;
    }
    apr_size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->end + more)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int si_wire_put_raw(si_wire_buf *b, const char *s, apr_size_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->end, s, n);
    b->end += n;
    return 0;
}

int si_wire_put_u32(si_wire_buf *b, apr_uint32_t v)
{
    unsigned char be[4] = {v >> 24, v >> 16, v >> 8, v};
    return si_wire_put_raw(b, (const char *)be, 4);
}

int si_wire_put_bytes(si_wire_buf *b, const char *s, apr_size_t n)
{
    return n > UINT32_MAX || si_wire_put_u32(b, (apr_uint32_t)n) < 0
           || si_wire_put_raw(b, s, n) < 0 ? -1 : 0;
}

int si_wire_put_str(si_wire_buf *b, const char *s)
{
    return si_wire_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

int si_wire_begin(si_wire_buf *b, char type, apr_size_t *at)
{
    if (reserve(b, 5) < 0)
        return -1;
    *at = b->end;
    b->data[b->end] = type;
    b->end += 5;
    return 0;
}

void si_wire_end(si_wire_buf *b, apr_size_t at)
{
    apr_uint32_t n = (apr_uint32_t)(b->end - at - 5);
    unsigned char *p = (unsigned char *)b->data + at + 1;
    p[0] = n >> 24;
    p[1] = n >> 16;
    p[2] = n >> 8;
    p[3] = n;
}

void si_wire_abandon(si_wire_buf *b, apr_size_t at)
{
    b->end = at;
}

int si_wire_frame(si_wire_buf *b, char type, const char *data, apr_size_t n)
{
    apr_size_t at;
    if (si_wire_begin(b, type, &at) < 0 || si_wire_put_raw(b, data, n) < 0)
        return -1;
    si_wire_end(b, at);
    return 0;
}

apr_uint32_t si_wire_get_u32(si_wire_reader *rd)
{
    if (rd->bad || rd->end - rd->p < 4) {
        rd->bad = 1;
        return 0;
    }
    const unsigned char *p = (const unsigned char *)rd->p;
    rd->p += 4;
    return (apr_uint32_t)p[0] << 24 | (apr_uint32_t)p[1] << 16 | (apr_uint32_t)p[2] << 8 | p[3];
}

const char *si_wire_get_bytes(si_wire_reader *rd, apr_size_t *n)
{
    apr_uint32_t len = si_wire_get_u32(rd);
    if (rd->bad || (apr_size_t)(rd->end - rd->p) < len) {
        rd->bad = 1;
        *n = 0;
        return "";
    }
    const char *s = rd->p;
    rd->p += len;
    *n = len;
    return s;
}

const char *si_wire_get_str(si_wire_reader *rd, apr_pool_t *p)
{
    apr_size_t n;
    const char *s = si_wire_get_bytes(rd, &n);
    return apr_pstrmemdup(p, s, n);
}

apr_ssize_t si_wire_recv(int fd, si_wire_buf *b)
{
    if (reserve(b, SI_WIRE_CHUNK) < 0) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t n;
    do
        n = recv(fd, b->data + b->end, b->cap - b->end, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        b->end += n;
    return n;
}

int si_wire_take(si_wire_buf *b, apr_size_t max, char *type, si_wire_reader *payload)
{
    apr_size_t have = b->end - b->start;
    if (have < 5)
        return 0;
    const unsigned char *p = (const unsigned char *)b->data + b->start;
    apr_size_t n = (apr_size_t)p[1] << 24 | (apr_size_t)p[2] << 16 | (apr_size_t)p[3] << 8 | p[4];
    if (n > max)
        return -1;
    if (have < 5 + n)
        return 0;
    *type = (char)p[0];
    payload->p = (const char *)p + 5;
    payload->end = payload->p + n;
    payload->bad = 0;
    b->start += 5 + n;
    return 1;
}

int si_wire_send(int fd, si_wire_buf *b)
{
    while (b->start < b->end) {
        ssize_t n = send(fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        b->start += n;
    }
    b->start = b->end = 0;
    return 0;
}
