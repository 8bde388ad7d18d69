/* si_auth.h — authentication, authorization and access control written in Python.
 *
 * `AuthBasicProvider subinterp` / `AuthDigestProvider subinterp` call check_password() /
 * get_realm_hash() of the SubinterpAuthUserScript in effect, `Require subinterp-group` calls
 * groups_for_user() of the SubinterpAuthGroupScript, and SubinterpAccessScript's allow_access()
 * runs in the access phase.  Each call runs on an interpreter of the script's pool.  Anything but
 * the documented answers (an exception, a wrong type, a missing function) is a 500 and a log
 * line, never a grant.
 */
#ifndef SI_AUTH_H
#define SI_AUTH_H

#include "si_common.h"

/* Registers the authn and authz providers and the access hook (from register_hooks). */
void si_auth_register(apr_pool_t *p);

#endif
