/* si_common.h — what every mod_subinterp source file includes.
 *
 * Python.h comes first, as the CPython embedding manual requires (it fixes feature macros that
 * system headers read).  Every log line of ours starts with a stable "SInnnn: " code listed in
 * docs/errors.md.
 */
#ifndef SI_COMMON_H
#define SI_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* What nearly every file uses; a file that needs more of Apache includes it itself. */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"

#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#if PY_VERSION_HEX < 0x030D0000
#error "mod_subinterp needs Python 3.13 or newer (own-GIL sub-interpreters with a working stdlib)"
#endif

/* mod_subinterp.c declares the module itself (AP_DECLARE_MODULE implies this). */
#ifndef SI_DECLARES_MODULE
APLOG_USE_MODULE(subinterp);
#else
extern module AP_MODULE_DECLARE_DATA subinterp_module;
#endif

/* The error convention (docs/design.md, "Errors"): what can fail returns apr_status_t and its
 * caller checks it.  Locking a mutex we made, unlocking one we hold, waiting on or signalling a
 * condition variable fail only when memory is already corrupt, and going on without the lock
 * would spread the damage; so those results are checked here, once, and a failure ends the child
 * with SI0217 and a core dump instead of being ignored at a hundred call sites.  rv is an
 * apr_status_t or a pthread error number (APR statuses are errno values on Unix). */
#define si_must(rv, what) do {                                                                \
        apr_status_t si_must_rv_ = (rv);                                                     \
        if (si_must_rv_ != APR_SUCCESS) {                                                    \
            ap_log_error(APLOG_MARK, APLOG_EMERG, si_must_rv_, NULL,                         \
                         "SI0217: %s failed; ending this child (pid %ld)", what,              \
                         (long)getpid());                                                     \
            abort();                                                                         \
        }                                                                                    \
    } while (0)
#define si_lock(m)   si_must(apr_thread_mutex_lock(m), "locking " #m)
#define si_unlock(m) si_must(apr_thread_mutex_unlock(m), "unlocking " #m)
#define si_signal(c) si_must(apr_thread_cond_signal(c), "signalling " #c)
#define si_broadcast(c) si_must(apr_thread_cond_broadcast(c), "broadcasting " #c)
#define si_plock(m)   si_must(pthread_mutex_lock(m), "locking " #m)
#define si_punlock(m) si_must(pthread_mutex_unlock(m), "unlocking " #m)
/* A timed wait returns on a signal or at the timeout (the caller re-checks its condition). */
#define si_timedwait(c, m, t) do {                                                            \
        apr_status_t si_wait_rv_ = apr_thread_cond_timedwait(c, m, t);                       \
        si_must(si_wait_rv_ == APR_TIMEUP ? APR_SUCCESS : si_wait_rv_, "waiting on " #c);    \
    } while (0)

#define SI_VERSION "0.1.0"
#define SI_HANDLER "subinterp-script"

#endif
