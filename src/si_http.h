/* si_http.h — HTTP syntax rules, as pure functions on bytes: what start_response accepts from an
 * app (RFC 9110 tokens and field values, PEP 3333 status lines) and how a request header name
 * becomes a CGI variable (RFC 3875 4.1.18).
 *
 * Nothing here touches Python or Apache, so that tests/fuzz can drive it directly.
 */
#ifndef SI_HTTP_H
#define SI_HTTP_H

#include <stddef.h>

/* A non-empty RFC 9110 token (a field name). */
int si_http_is_token(const unsigned char *s, size_t n);

/* A hop-by-hop field, which only the server may set (PEP 3333). */
int si_http_is_hop_by_hop(const unsigned char *name, size_t n);

/* A field value with no control character but HTAB (so no CR, LF or NUL). */
int si_http_is_field_value(const unsigned char *v, size_t n);

/* "NNN Reason" with a code from 100 to 599 and no control characters. */
int si_http_is_status_line(const unsigned char *s, size_t n);

/* 1 to 18 digits: a Content-Length that fits apr_off_t. */
int si_http_is_content_length(const unsigned char *v, size_t n);

/* Writes "HTTP_" plus name upper-cased with '-' as '_' into out (room for n + 6 bytes) and
 * returns its length, or 0 when name holds anything but letters, digits and '-' (such a header
 * could pose as another: X_Forwarded_For as X-Forwarded-For). */
size_t si_http_cgi_name(const unsigned char *name, size_t n, char *out);

#endif
