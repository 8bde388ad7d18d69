/* si_file_wrapper.h — the wsgi.file_wrapper type (si_file_wrapper.c): blocks of a file-like
 * object, for apps and for si_response.c, which sends a plain file's wrapper as file buckets. */
#ifndef SI_FILE_WRAPPER_H
#define SI_FILE_WRAPPER_H

#include "si_common.h"

/* Made per interpreter by si_module.c. */
extern PyType_Spec si_file_wrapper_spec;

#endif
