/* Compiled by `make test-header` as C11 and as C++17 against the frozen 1.0 header
   (testdata/abi/1.0/slipstream.h): it stays clean, and a plugin built against it has the
   64-byte vtable without resume_height that a 1.1 host must read as "resume_height NULL".
   The host-side proof (a plugin built against it loads in the 1.1 host) is the Go test's. */
#include "slipstream.h" /* the frozen 1.0 header: built with -I testdata/abi/1.0 */

#include <stdio.h>

static const char *v_name(const slipstream_plugin *self) { (void)self; return "v10"; }
static void v_destroy(slipstream_plugin *self) { (void)self; }

static const slipstream_plugin_vtable v_vtable = {
    sizeof(slipstream_plugin_vtable), SLIPSTREAM_ABI_MAJOR, SLIPSTREAM_ABI_MINOR, v_name, v_destroy,
    NULL, NULL, NULL, NULL, NULL,
};

int main(void) {
    if (SLIPSTREAM_ABI_MAJOR != 1 || SLIPSTREAM_ABI_MINOR != 0 || SLIPSTREAM_ABI_VERSION != 0x10000u) {
        fprintf(stderr, "1.0 header: version %#x\n", (unsigned)SLIPSTREAM_ABI_VERSION);
        return 1;
    }
    if (v_vtable.struct_size != 64 || sizeof(slipstream_plugin_vtable) != 64 ||
        offsetof(slipstream_plugin_vtable, on_broadcast_batch) != 56 || sizeof(slipstream_event) != 104) {
        fprintf(stderr, "1.0 header: vtable %u bytes, want 64\n", (unsigned)v_vtable.struct_size);
        return 1;
    }
    return 0;
}
