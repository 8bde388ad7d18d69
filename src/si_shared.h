/* si_shared.h — `mod_subinterp.shared`: the pool-wide cache and queues as apps see them.
 *
 * The types live in each interpreter's `_subinterp` module state like every other type of ours;
 * what they reach is the pool's si_store (C data, no Python objects), copied in and out by value
 * (si_shared_value.c).  `import mod_subinterp` gives the public names: shared, version,
 * RequestTimeout.  docs/shared-state.md is the user's side of this.
 */
#ifndef SI_SHARED_H
#define SI_SHARED_H

#include "si_module.h"

/* The exec slot's part: the cache and queue types, the `shared` namespace.  GIL held. */
int si_shared_module_exec(PyObject *module, si_module_state *st);

/* For PyImport_AppendInittab("mod_subinterp", ...) before Py_Initialize. */
PyObject *si_public_module_init(void);

extern PyType_Spec si_shared_cache_spec;
extern PyType_Spec si_shared_queue_spec;

#endif
