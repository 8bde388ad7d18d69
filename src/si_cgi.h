/* si_cgi.h — a request's CGI variables (RFC 3875 with PEP 3333's additions), without Python.
 *
 * What a WSGI environ holds besides the wsgi.* and mod_subinterp.* keys is worked out here from
 * Apache's request record, once, for both hosts of an app: si_environ.c puts the variables
 * straight into the environ dict of an in-child request, and si_procforward.c puts them on the
 * wire to a process pool (si_wire.h), whose si_procserve.c replays them into the same dict.
 * Either way the operations come in one order, so both hosts give an app the same environ.
 */
#ifndef SI_CGI_H
#define SI_CGI_H

#include "si_common.h"
#include "si_config.h"

/* The variables most requests have, interned by each interpreter (si_module.h): X(field, text) */
#define SI_CGI_KEYS(X)                                      \
    X(REQUEST_METHOD, "REQUEST_METHOD")                     \
    X(SCRIPT_NAME, "SCRIPT_NAME")                           \
    X(PATH_INFO, "PATH_INFO")                               \
    X(QUERY_STRING, "QUERY_STRING")                         \
    X(CONTENT_TYPE, "CONTENT_TYPE")                         \
    X(CONTENT_LENGTH, "CONTENT_LENGTH")                     \
    X(SERVER_NAME, "SERVER_NAME")                           \
    X(SERVER_PORT, "SERVER_PORT")                           \
    X(SERVER_PROTOCOL, "SERVER_PROTOCOL")                   \
    X(SERVER_SOFTWARE, "SERVER_SOFTWARE")                   \
    X(SERVER_ADDR, "SERVER_ADDR")                           \
    X(REMOTE_ADDR, "REMOTE_ADDR")                           \
    X(REMOTE_PORT, "REMOTE_PORT")                           \
    X(REMOTE_USER, "REMOTE_USER")                           \
    X(AUTH_TYPE, "AUTH_TYPE")                               \
    X(REQUEST_URI, "REQUEST_URI")                           \
    X(REQUEST_SCHEME, "REQUEST_SCHEME")                     \
    X(SCRIPT_FILENAME, "SCRIPT_FILENAME")                   \
    X(DOCUMENT_ROOT, "DOCUMENT_ROOT")                       \
    X(HTTPS, "HTTPS")                                       \
    X(HTTP_HOST, "HTTP_HOST")

typedef enum {
    SI_CGI_OTHER = 0,              /* a request header or a subprocess_env variable */
#define SI_CGI_ENUM(field, text) SI_CGI_##field,
    SI_CGI_KEYS(SI_CGI_ENUM)
#undef SI_CGI_ENUM
    SI_CGI_KEY_COUNT
} si_cgi_key;

typedef enum {
    SI_CGI_SET = 0,
    SI_CGI_SET_IF_ABSENT,          /* SetEnv and the like: never over one of ours */
    SI_CGI_REMOVE                  /* a trusted proxy said http: no HTTPS */
} si_cgi_op;

/* Where the variables go.  put() returns 0, or -1 to stop (its own error is left set). */
typedef struct si_cgi_sink {
    int (*put)(struct si_cgi_sink *sink, si_cgi_op op, si_cgi_key key, const char *name,
               apr_size_t name_len, const char *value, apr_size_t value_len);
} si_cgi_sink;

/* One operation, as a process pool receives it (si_wire.h); pointers into the received frame. */
typedef struct {
    si_cgi_op op;
    si_cgi_key key;
    const char *name;
    apr_size_t name_len;
    const char *value;
    apr_size_t value_len;
} si_cgi_var;

typedef struct {
    const si_cgi_var *vars;
    int count;
    int https;
} si_cgi_list;

/* Each known key's text, by si_cgi_key (SI_CGI_OTHER's is ""). */
extern const char *const si_cgi_key_text[SI_CGI_KEY_COUNT];

/* SCRIPT_NAME, PATH_INFO and SCRIPT_FILENAME of r as mount serves it: a mount takes SCRIPT_NAME
 * from its URL; a handler script or a file takes it from Apache's mapping. */
typedef struct {
    const char *script_name;
    const char *path_info;
    const char *script_filename;
} si_cgi_mapping;
void si_cgi_map(request_rec *r, const si_mount_conf *mount, si_cgi_mapping *out);

/* Puts r's variables into sink; *https tells whether the request counts as https (TLS, or what a
 * trusted proxy said).  -1 if put() failed. */
int si_cgi_vars(request_rec *r, const si_cgi_mapping *map, si_cgi_sink *sink, int *https);

/* LimitRequestBody: 1 (logged, SI0421) when r announces a body over the limit, which is refused
 * with 413 before any app sees a byte (a chunked one is caught by HTTP_IN while it is read). */
int si_cgi_body_too_large(request_rec *r);

/* A read of r's body failed with rv: logs SI0420 (info: the client's doing) and writes what
 * went wrong into msg (AP_FILTER_ERROR: HTTP_IN refused the body and answered the client). */
void si_cgi_body_read_failed(request_rec *r, apr_status_t rv, char *msg, apr_size_t size);

#endif
