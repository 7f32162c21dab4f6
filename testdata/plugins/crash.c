/*
 * A plugin whose _create_plugin dereferences NULL: loading it kills the process with
 * SIGSEGV. A plugin runs inside the node's process, so nothing can contain this;
 * `slipstream check` loads plugins in a child process to report it instead of dying.
 */
#include "slipstream.h"

#include <stddef.h>

SLIPSTREAM_EXPORT uint32_t slipstream_abi_version(void) { return SLIPSTREAM_ABI_VERSION; }

SLIPSTREAM_EXPORT slipstream_plugin *_create_plugin(void) {
    volatile int *p = NULL;
    *p = 42; /* SIGSEGV */
    return NULL;
}
