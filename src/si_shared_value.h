/* si_shared_value.h — Python values to bytes and back, for the shared cache and queues.
 *
 * Sharing is by value (as PEP 734's queues share between interpreters): an interpreter never
 * sees another's objects, only a copy made from these bytes.  The types are exactly bytes, str,
 * int, float, bool, None and tuples of them; subclasses are refused too, since their copy would
 * come back as the base type.  Round trips are exact: str keeps lone surrogates, float keeps
 * -0.0 and NaN payloads, int any size.
 */
#ifndef SI_SHARED_VALUE_H
#define SI_SHARED_VALUE_H

#include "si_common.h"

/* The encoded size of obj, or -1 with TypeError (naming the type) or ValueError set (over
 * SI_VALUE_MAX: every size is checked before it is added, so app data cannot wrap it).  GIL
 * held. */
#define SI_VALUE_MAX ((Py_ssize_t)0x7fffffff)
Py_ssize_t si_value_size(PyObject *obj);

/* Writes obj's encoding (exactly si_value_size(obj) bytes) to out: 0, or -1 with an exception
 * (a str whose encoding failed, out of memory), out then partly written.  GIL held; obj was
 * sized just before on this thread (the types are immutable, so the size still holds). */
int si_value_write(PyObject *obj, unsigned char *out);

/* A new object from an encoding, or NULL with an exception.  GIL held. */
PyObject *si_value_read(const unsigned char *in, size_t len);

#endif
