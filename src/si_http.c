/* si_http.c — HTTP syntax rules on bytes (see si_http.h). */
#include "si_http.h"

#include <string.h>
#include <strings.h>

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int si_http_is_token(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)   /* RFC 9110 tchar */
        if (!is_alnum(s[i]) && !(s[i] && strchr("!#$%&'*+-.^_`|~", s[i])))
            return 0;
    return 1;
}

int si_http_is_hop_by_hop(const unsigned char *name, size_t n)
{
    static const char *const hop[] = {"connection", "keep-alive", "proxy-authenticate",
                                      "proxy-authorization", "te", "trailer", "trailers",
                                      "transfer-encoding", "upgrade", NULL};
    for (int i = 0; hop[i]; i++)
        if (strlen(hop[i]) == n && strncasecmp((const char *)name, hop[i], n) == 0)
            return 1;
    return 0;
}

int si_http_is_field_value(const unsigned char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return 0;
    return 1;
}

int si_http_is_status_line(const unsigned char *s, size_t n)
{
    if (n < 4 || s[0] < '1' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0'
        || s[2] > '9' || s[3] != ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int si_http_is_content_length(const unsigned char *v, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

size_t si_http_cgi_name(const unsigned char *name, size_t n, char *out)
{
    memcpy(out, "HTTP_", 5);
    char *k = out + 5;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = name[i];
        if (is_alnum(c))
            *k++ = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : (char)c;
        else if (c == '-')
            *k++ = '_';
        else
            return 0;
    }
    *k = '\0';
    return n ? (size_t)(k - out) : 0;
}
