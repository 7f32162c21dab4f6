/*
 * The lifecycle test plugin of the command's tests: a plugin whose on_load and on_unload
 * misbehave on request, to check what `slipstream check` and `slipstream replay` report.
 * It subscribes to Block events and accepts them all.
 *
 * Config keys (read with config_get):
 *   ready          a file created when on_load begins (a test waits for it);
 *   load_sleep_ms  on_load sleeps this long (a test interrupts the check meanwhile);
 *   unload_error   on_unload logs this message at error level (an unload that failed:
 *                  a database that could not be flushed).
 */
#define _POSIX_C_SOURCE 200809L
#include "slipstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct lifecycle {
    slipstream_plugin base;
    const slipstream_host *host;
    char unload_error[512];
} lifecycle;

static int64_t config(const slipstream_host *h, const char *key, char *buf, uint64_t cap) {
    return h->config_get(h->ctx, key, buf, cap);
}

static const char *lc_name(const slipstream_plugin *self) {
    (void)self;
    return "lifecycle";
}

static void lc_destroy(slipstream_plugin *self) { free(self); }

static int32_t lc_on_load(slipstream_plugin *self, const slipstream_load_args *args, slipstream_error *err) {
    (void)err;
    lifecycle *p = (lifecycle *)self;
    char buf[4096];
    p->host = args->host;
    if (config(p->host, "ready", buf, sizeof buf) >= 0) {
        FILE *f = fopen(buf, "w");
        if (f) fclose(f);
    }
    if (config(p->host, "load_sleep_ms", buf, sizeof buf) >= 0) {
        long ms = strtol(buf, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (config(p->host, "unload_error", p->unload_error, sizeof p->unload_error) < 0) p->unload_error[0] = '\0';
    return SLIPSTREAM_OK;
}

static void lc_on_unload(slipstream_plugin *self) {
    lifecycle *p = (lifecycle *)self;
    if (p->unload_error[0] != '\0') p->host->log(p->host->ctx, SLIPSTREAM_LOG_ERROR, p->unload_error);
}

static uint64_t lc_events(const slipstream_plugin *self) {
    (void)self;
    return SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK);
}

static int32_t lc_broadcast(slipstream_plugin *self, const slipstream_event *e, slipstream_error *err) {
    (void)self;
    (void)e;
    (void)err;
    return SLIPSTREAM_OK;
}

static const slipstream_plugin_vtable lc_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = lc_name,
    .destroy = lc_destroy,
    .on_load = lc_on_load,
    .on_unload = lc_on_unload,
    .subscribed_events = lc_events,
    .on_broadcast = lc_broadcast,
};

static slipstream_plugin *lc_create(void) {
    lifecycle *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->base.vtable = &lc_vtable;
    return &p->base;
}

SLIPSTREAM_DECLARE_PLUGIN(lc_create)
