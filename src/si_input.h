/* si_input.h — wsgi.input: one request's body as a file-like object (si_input.c). */
#ifndef SI_INPUT_H
#define SI_INPUT_H

#include "si_exchange.h"

/* A new wsgi.input for req (GIL held); NULL with an exception set. */
PyObject *si_input_new(si_request *req);
/* Its type, made per interpreter by si_module.c. */
extern PyType_Spec si_input_spec;
/* The request is over: later reads raise instead of touching it. */
void si_input_detach(PyObject *input);

#endif
