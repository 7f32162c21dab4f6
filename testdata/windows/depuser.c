/*
 * A test plugin that imports a function from a DLL of its own (windep.dll, built from
 * testdata/windows/windep.c into the same folder): loading it succeeds only if the loader
 * finds a plugin's dependencies beside the plugin. Its name is "depuser-<answer>", so a
 * test sees that the dependency was called.
 */
#include "slipstream.h"

#include <stdio.h>
#include <stdlib.h>

__declspec(dllimport) uint32_t windep_answer(void);

static char name_buf[32];

static const char *du_name(const slipstream_plugin *self) {
    (void)self;
    snprintf(name_buf, sizeof name_buf, "depuser-%u", (unsigned)windep_answer());
    return name_buf;
}
static void du_destroy(slipstream_plugin *self) { free(self); }
static uint64_t du_events(const slipstream_plugin *self) {
    (void)self;
    return SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK);
}
static int32_t du_broadcast(slipstream_plugin *self, const slipstream_event *ev, slipstream_error *err) {
    (void)self, (void)ev, (void)err;
    return SLIPSTREAM_OK;
}
static const slipstream_plugin_vtable du_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = du_name,
    .destroy = du_destroy,
    .subscribed_events = du_events,
    .on_broadcast = du_broadcast,
};
static slipstream_plugin *du_create(void) {
    slipstream_plugin *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->vtable = &du_vtable;
    return p;
}
SLIPSTREAM_DECLARE_PLUGIN(du_create)
