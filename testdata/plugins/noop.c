/*
 * The no-op plugin of the benchmarks: subscribes to every kind and returns at once.
 * NOOP_BATCH sets on_broadcast_batch as well. NOOP_SUM makes it do the benchmarks' "same
 * work" (add up every byte of every event, as sdk/rust/testplugins/summer does in Rust).
 * noop_call is exported so that a benchmark can time a bare purego.SyscallN of a function
 * with the same signature, without the host.
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

#ifdef NOOP_SUM
static uint64_t sum(slipstream_bytes b) {
    uint64_t s = 0;
    for (uint64_t i = 0; i < b.len; i++) s += b.ptr[i];
    return s;
}

static uint64_t work(const slipstream_event *e) {
    switch (e->kind) {
    case SLIPSTREAM_EVENT_MAPPING_UPDATE:
        return sum(e->mapping_update.program_id) + sum(e->mapping_update.mapping_name) +
               sum(e->mapping_update.key) + sum(e->mapping_update.value);
    case SLIPSTREAM_EVENT_MAPPING_REMOVAL:
        return sum(e->mapping_removal.program_id) + sum(e->mapping_removal.mapping_name) +
               (e->mapping_removal.has_key ? sum(e->mapping_removal.key) : 0);
    case SLIPSTREAM_EVENT_STAKING_REWARD:
        return sum(e->staking_reward.staker) + sum(e->staking_reward.validator) + e->staking_reward.reward +
               e->staking_reward.new_stake;
    case SLIPSTREAM_EVENT_BLOCK:
        return sum(e->block.block);
    }
    return 0;
}
#else
static uint64_t work(const slipstream_event *e) { return e->kind + 1; }
#endif

static int32_t noop_broadcast(slipstream_plugin *self, const slipstream_event *e, slipstream_error *err) {
    (void)err;
    ((noop *)self)->seen += work(e);
    return SLIPSTREAM_OK;
}

__attribute__((unused)) static int32_t noop_batch(slipstream_plugin *self, const slipstream_event *evs,
                                                  uint64_t n, slipstream_error *err) {
    (void)err;
    for (uint64_t i = 0; i < n; i++) ((noop *)self)->seen += work(&evs[i]);
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
