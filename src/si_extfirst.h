/* si_extfirst.h — which interpreter of this process loaded each extension module first.
 *
 * Cython, numpy and PyO3 extensions load in the first interpreter of a process that imports
 * them and fail in every later one (SI0308).  The failure names neither the extension nor who
 * had it first, and the second importer may be another pool.  Each interpreter, once its apps
 * are in, notes the extension modules it holds; SI0308 then names the one its failure points
 * at and the pool and interpreter that loaded it first.
 */
#ifndef SI_EXTFIRST_H
#define SI_EXTFIRST_H

#include "si_common.h"

/* Notes the extension modules in the attached interpreter's sys.modules that no interpreter
 * noted before, as first loaded by pool `pool` (configuration memory), interpreter `index`. */
void si_extfirst_note(const char *pool, int index);

/* For a failed import in the attached interpreter (pool, index), whose traceback is `text`:
 * "MODULE, loaded first by pool P interpreter K" for a module another interpreter noted, that
 * this one does not hold, and whose top-level package the traceback names; else NULL. */
const char *si_extfirst_culprit(apr_pool_t *p, const char *text, const char *pool, int index);

/* Forgets every note (child exit, once no interpreter loads anything any more). */
void si_extfirst_reset(void);

#endif
