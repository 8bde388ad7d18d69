/* si_response.h — start_response, write() and the body going out to Apache (si_response.c). */
#ifndef SI_RESPONSE_H
#define SI_RESPONSE_H

#include "si_exchange.h"

/* Its type, made per interpreter by si_module.c. */
extern PyType_Spec si_start_response_spec;
PyObject *si_start_response_new(si_request *req);
void si_start_response_detach(PyObject *start_response);
int si_response_write(si_request *req, const char *data, Py_ssize_t len, int flush);
/* Sends a wsgi.file_wrapper over a regular file with Apache's file buckets.  1: sent (or failed
 * with -1 and an exception); 0: not a plain file, iterate it instead. */
int si_response_send_file(si_request *req, PyObject *file_wrapper);
/* Sends the app's iterable (a file_wrapper through si_response_send_file).  0, or -1 with an
 * exception set (or with client_gone). */
int si_response_send_body(si_request *req, PyObject *result);
/* Calls the iterable's close(), if it has one; -1 with an exception set if it raised. */
int si_response_call_close(si_request *req, PyObject *result);
int si_response_send_headers(si_request *req);
void si_response_finish(si_request *req);
void si_response_abort(si_request *req);

#endif
