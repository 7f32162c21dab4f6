/* The smallest useful plugin: counts Block events. Built only through find_package(slipstream). */
#include <slipstream.h>
#include <stdlib.h>

typedef struct counter {
    slipstream_plugin base;
    uint64_t blocks;
} counter;

static const char *counter_name(const slipstream_plugin *self) {
    (void)self;
    return "counter";
}
static void counter_destroy(slipstream_plugin *self) { free(self); }
static uint64_t counter_events(const slipstream_plugin *self) {
    (void)self;
    return SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK);
}
static int32_t counter_broadcast(slipstream_plugin *self, const slipstream_event *ev, slipstream_error *err) {
    (void)ev;
    (void)err;
    ((counter *)self)->blocks++;
    return SLIPSTREAM_OK;
}

static const slipstream_plugin_vtable counter_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = counter_name,
    .destroy = counter_destroy,
    .subscribed_events = counter_events,
    .on_broadcast = counter_broadcast,
};

static slipstream_plugin *counter_create(void) {
    counter *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->base.vtable = &counter_vtable;
    return &c->base;
}

SLIPSTREAM_DECLARE_PLUGIN(counter_create)
