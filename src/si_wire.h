/* si_wire.h — the protocol between an Apache child and a process pool's process.
 *
 * One request per connection over a Unix domain socket.  Everything travels in frames: a type
 * byte, a 32-bit length (network order) and that many bytes.  Integers in a payload are 32-bit,
 * network order; a string is its length and its bytes (no NUL).
 *
 *   process -> child   'A'  accepted: a thread of the process took the connection (empty)
 *   child -> process   'Q'  the request: mount index, request-line fields, then the CGI
 *                           variables as si_cgi.c produced them (op, key, name, value)
 *   child -> process   'D'  request body bytes (at most SI_WIRE_CHUNK)
 *                      'E'  end of the request body
 *                      'X'  the body could not be read: the APR status the child's read got
 *   process -> child   'H'  the response head: status, status line, Content-Type, headers_out,
 *                           err_headers_out
 *                      'S'  no response was made: the handler's HTTP status for Apache to
 *                           answer with, and err_headers_out (Retry-After)
 *                      'D'  response body bytes; 'F' flush; 'E' the response is complete
 *
 * A response that ends without 'E' (the process died, the app failed after its headers) was
 * cut short, and the child cuts the client's short too.  Both directions flow at once: an app
 * may answer before it has read the body, or stream one into the other.
 */
#ifndef SI_WIRE_H
#define SI_WIRE_H

#include "si_common.h"

#define SI_WIRE_CHUNK     65536
#define SI_WIRE_HEAD_MAX  (8 * 1024 * 1024)   /* a 'Q' or 'H' frame: LimitRequestFields etc. */

/* Bytes waiting to be sent, or received and not yet taken; malloc'd. */
typedef struct {
    char *data;
    apr_size_t start, end, cap;
} si_wire_buf;

void si_wire_buf_free(si_wire_buf *b);

/* Appending a frame: begin, puts, end.  -1 when memory ran out (nothing is half-written then:
 * si_wire_abandon drops the frame begun at `at`). */
int si_wire_begin(si_wire_buf *b, char type, apr_size_t *at);
int si_wire_put_u32(si_wire_buf *b, apr_uint32_t v);
int si_wire_put_bytes(si_wire_buf *b, const char *s, apr_size_t n);   /* length, then bytes */
int si_wire_put_str(si_wire_buf *b, const char *s);                   /* NULL as "" */
int si_wire_put_raw(si_wire_buf *b, const char *s, apr_size_t n);
void si_wire_end(si_wire_buf *b, apr_size_t at);
void si_wire_abandon(si_wire_buf *b, apr_size_t at);
int si_wire_frame(si_wire_buf *b, char type, const char *data, apr_size_t n);

/* Reading a payload; `bad` is set by the first read past its end. */
typedef struct {
    const char *p, *end;
    int bad;
} si_wire_reader;

apr_uint32_t si_wire_get_u32(si_wire_reader *rd);
const char *si_wire_get_bytes(si_wire_reader *rd, apr_size_t *n);
const char *si_wire_get_str(si_wire_reader *rd, apr_pool_t *p);      /* a NUL-terminated copy */

/* Reads what the socket has into b (once; a blocking fd waits for something): the byte count,
 * 0 at EOF, -1 with errno set. */
apr_ssize_t si_wire_recv(int fd, si_wire_buf *b);

/* The next whole frame in b, taken from it (valid until b changes): 1, or 0 when it is not all
 * there yet, or -1 when it is malformed (longer than max). */
int si_wire_take(si_wire_buf *b, apr_size_t max, char *type, si_wire_reader *payload);

/* Sends b's bytes; a non-blocking fd may leave some (b keeps them).  -1 with errno set. */
int si_wire_send(int fd, si_wire_buf *b);

#endif
