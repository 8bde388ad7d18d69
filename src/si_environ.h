/* si_environ.h — the WSGI environ of one request (si_environ.c). */
#ifndef SI_ENVIRON_H
#define SI_ENVIRON_H

#include "si_exchange.h"

PyObject *si_environ_build(si_request *req, PyObject *input, PyObject *errors);

#endif
