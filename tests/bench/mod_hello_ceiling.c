/* mod_hello_ceiling.c — the ceiling for any Apache module on this machine: a handler that writes
 * the same 14 bytes as the hello workload, with no Python at all.  Built only for `make bench`
 * (never installed); our hello is reported as a ratio to it (issue 13). */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

#include <string.h>

static int hello_ceiling_handler(request_rec *r)
{
    static const char body[] = "Hello, world!\n";
    if (!r->handler || strcmp(r->handler, "hello-ceiling") != 0)
        return DECLINED;
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, sizeof(body) - 1);
    if (!r->header_only)
        ap_rwrite(body, sizeof(body) - 1, r);
    return OK;
}

static void hello_ceiling_hooks(apr_pool_t *p)
{
    ap_hook_handler(hello_ceiling_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(hello_ceiling) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, hello_ceiling_hooks,
};
