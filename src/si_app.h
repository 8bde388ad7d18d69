/* si_app.h — what runs inside an interpreter at start-up (sys.path, app scripts) and the
 * rendering of Python exceptions for the error log. */
#ifndef SI_APP_H
#define SI_APP_H

#include "si_common.h"
#include "si_config.h"
#include "si_module.h"

struct si_instance;

/* Prepends python-path entries and the pool's virtualenv to sys.path of the current interpreter.
 * Returns -1 with a Python exception set. */
int si_app_prepare_path(apr_pool_t *p, apr_array_header_t *global_path, si_pool_spec *spec);

/* What every interpreter gets before its apps load: sys.stdout and sys.stderr into the error log
 * of the pool's server (line-buffered), and signal.signal() restricted (SI0320).  With st's
 * interpreter attached.  -1 with a Python exception set. */
int si_app_prepare_interpreter(PyObject *module, si_module_state *st, si_pool_spec *spec,
                               int index);

/* _subinterp._signal_ignored(signum, module_name): logs SI0320 against st->log_server. */
PyObject *si_app_signal_ignored(PyObject *module, PyObject *args);

/* The start-up probe (si_probe.c) reports what an interpreter loads: si_app_trace_imports(fd)
 * once in the probe process; then si_app_trace_begin() in each interpreter before its scripts
 * and si_app_trace_script() before each.  Both do nothing elsewhere (no fd). */
void si_app_trace_imports(int fd);
void si_app_trace_begin(void);
void si_app_trace_script(const si_mount_conf *mount);

/* Imports mount's script as a module of the current interpreter and returns its callable (new
 * reference; the module itself for hooks and imports), or NULL with a Python exception set. */
PyObject *si_app_load(si_mount_conf *mount);

/* The current interpreter's loader of subinterp-script files (new reference): it imports each
 * file once, and again when mtime changes (mtime 0: never reloaded). */
PyObject *si_app_file_loader(void);
PyObject *si_app_load_file(PyObject *file_loader, const char *path, const char *callable,
                           apr_time_t mtime);

/* Logs why mount's app failed to load in interpreter `index` of its pool and clears the
 * exception (allocating from p); returns the reason in one line (the exception's last line).
 * SI0303 (once per pool, from interpreter 0) when a C extension refused to load in a
 * sub-interpreter, with the fix; SI0301 with the traceback otherwise.  r may be NULL. */
const char *si_app_log_load_failure(apr_pool_t *p, server_rec *s, request_rec *r,
                                    si_mount_conf *mount, int index);

/* The app of mount in inst (new reference; the module for hooks), importing it first under
 * preload=off, or on first use for a subinterp-script file; NULL if it failed to load (logged).
 * Called with inst's interpreter attached. */
PyObject *si_instance_app(struct si_instance *inst, si_mount_conf *mount, request_rec *r);

/* Takes the current Python exception and renders its traceback (bounded for Apache's log line
 * limit, keeping the end, where the cause is).  Never fails; clears the exception. */
const char *si_exception_text(apr_pool_t *p);

/* Runs the attached interpreter's atexit callbacks now (they do not run again at its end). */
void si_app_run_exit_funcs(void);

#endif
