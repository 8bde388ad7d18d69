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

#include <stddef.h>

#if PY_VERSION_HEX < 0x030D0000
#error "mod_subinterp needs Python 3.13 or newer (own-GIL sub-interpreters with a working stdlib)"
#endif

/* mod_subinterp.c declares the module itself (AP_DECLARE_MODULE implies this). */
#ifndef SI_DECLARES_MODULE
APLOG_USE_MODULE(subinterp);
#else
extern module AP_MODULE_DECLARE_DATA subinterp_module;
#endif

#define SI_VERSION "0.1.0"
#define SI_HANDLER "subinterp-script"

#endif
