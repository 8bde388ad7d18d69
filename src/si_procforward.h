/* si_procforward.h — an Apache child's side of a process pool: each request to one of its
 * mounts goes to one of the pool's processes over the pool's socket (si_wire.h), and the answer
 * comes back to the client as it is made.  No Python in the child for this.
 */
#ifndef SI_PROCFORWARD_H
#define SI_PROCFORWARD_H

#include "si_common.h"
#include "si_config.h"

int si_procforward_handle(request_rec *r, si_mount_conf *mount);

#endif
