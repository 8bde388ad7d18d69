/* si_extpath.h — the main interpreter finds what an extension's init imports for a pool.
 *
 * CPython 3.13 runs every extension module's init function in the main interpreter, even when a
 * sub-interpreter imports it (Python/import.c, import_run_extension), and a cffi extension's
 * init imports _cffi_backend there, through the main interpreter's sys.path, which has none of
 * a pool's python-path= or virtualenv= entries.  So the main interpreter gets one more finder,
 * last on its meta path, that answers only while such an init runs for a pool's interpreter, and
 * only from that pool's own paths.
 */
#ifndef SI_EXTPATH_H
#define SI_EXTPATH_H

#include "si_common.h"
#include "si_config.h"

/* An interpreter of conf's pool exists (or no longer does).  Any thread. */
void si_extpath_register(PyInterpreterState *interp, si_pool_spec *spec);
void si_extpath_unregister(PyInterpreterState *interp);

/* Forgets every interpreter (child exit, once they are ended or abandoned). */
void si_extpath_reset(void);

/* Installs the finder in the main interpreter; with the main interpreter attached.  global_path
 * is SubinterpPythonPath.  -1 with a Python exception set. */
int si_extpath_install(apr_array_header_t *global_path);

/* _subinterp._extension_init(on): a sub-interpreter's extension loader marks this thread while
 * CPython runs an extension's init for it (the loader's create_module, patched in every
 * sub-interpreter by si_app.c): the finder then knows which pool asks, on any thread. */
PyObject *si_extpath_mark_init(PyObject *module, PyObject *on);

/* _subinterp._extension_init_found(name), from the finder in the main interpreter: it answered
 * for `name` during the init under way.  When the init ends (_extension_init(False)), such
 * modules leave the main interpreter's sys.modules, so no other pool's init gets them. */
PyObject *si_extpath_note_found(PyObject *module, PyObject *name);

/* _subinterp._pool_paths_for_extension_init(): the paths (list of str) of the pool whose
 * interpreter this thread is running an extension's init for, or None. */
PyObject *si_extpath_paths(PyObject *module, PyObject *unused);

#endif
