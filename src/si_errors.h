/* si_errors.h — wsgi.errors for one request, and the sys.stdout/sys.stderr streams of an
 * interpreter, into Apache's error log (si_errors.c). */
#ifndef SI_ERRORS_H
#define SI_ERRORS_H

#include "si_exchange.h"

/* A new wsgi.errors for req: lines go to the error log tagged with req's client. */
PyObject *si_errors_new(si_request *req);
/* The type of both, made per interpreter by si_module.c. */
extern PyType_Spec si_errors_spec;
/* sys.stdout / sys.stderr of an interpreter: lines go to server's error log at `level`, or to
 * the request the writing thread runs in this interpreter. */
PyObject *si_errors_stream_new(si_module_state *st, server_rec *server, int level);
void si_errors_detach(PyObject *errors);   /* flushes a partial line first */

#endif
