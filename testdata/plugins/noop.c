/*
 * The no-op plugin of the benchmarks: subscribes to every kind and returns at once.
 * NOOP_BATCH sets on_broadcast_batch as well. noop_call is exported so that a benchmark can
 * time a bare purego.SyscallN of a function with the same signature, without the host.
 */
#include "slipstream.h"

#include <stdlib.h>

typedef struct noop {
    slipstream_plugin base;
    uint64_t seen;
} noop;

static const char *noop_name(const slipstream_plugin *self) { (void)self; return "noop"; }
static void noop_destroy(slipstream_plugin *self) { free(self); }
static uint64_t noop_events(const slipstream_plugin *self) { (void)self; return SLIPSTREAM_MASK_ALL; }

static int32_t noop_broadcast(slipstream_plugin *self, const slipstream_event *e, slipstream_error *err) {
    (void)err;
    ((noop *)self)->seen += e->kind + 1;
    return SLIPSTREAM_OK;
}

__attribute__((unused)) static int32_t noop_batch(slipstream_plugin *self, const slipstream_event *evs,
                                                  uint64_t n, slipstream_error *err) {
    (void)err;
    for (uint64_t i = 0; i < n; i++) ((noop *)self)->seen += evs[i].kind + 1;
    return SLIPSTREAM_OK;
}

/* Same signature as on_broadcast, for the bare-call baseline. */
SLIPSTREAM_EXPORT int32_t noop_call(void *self, const slipstream_event *e, slipstream_error *err) {
    (void)self; (void)e; (void)err;
    return SLIPSTREAM_OK;
}

static const slipstream_plugin_vtable noop_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = noop_name,
    .destroy = noop_destroy,
    .subscribed_events = noop_events,
    .on_broadcast = noop_broadcast,
#ifdef NOOP_BATCH
    .on_broadcast_batch = noop_batch,
#endif
};

static slipstream_plugin *noop_create(void) {
    noop *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->base.vtable = &noop_vtable;
    return &p->base;
}

SLIPSTREAM_DECLARE_PLUGIN(noop_create)
