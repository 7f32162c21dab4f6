/*
 * The recorder test plugin: it appends one line per call it receives to the file named by
 * its config key "out", so that tests can assert the order, the bytes and the counts of
 * everything the host delivered. Compile-time switches turn it into the misbehaving
 * plugins the loader tests need:
 *
 *   RECORDER_BATCH          sets on_broadcast_batch (and not on_broadcast)
 *   RECORDER_NO_VERSION     does not export slipstream_abi_version
 *   RECORDER_NO_CREATE      does not export _create_plugin
 *   RECORDER_ABI=0xMMMMmmmm slipstream_abi_version returns this instead
 *   RECORDER_CREATE_NULL    _create_plugin returns NULL
 *   RECORDER_NAME_NULL      name() returns NULL;  RECORDER_NAME_EMPTY: ""
 *   RECORDER_SMALL_VTABLE   vtable struct_size too small to hold destroy
 *   RECORDER_NO_CALLBACK    subscribes but sets neither broadcast callback
 *   RECORDER_NAME="x"       the plugin's own name (default "recorder")
 *   RECORDER_NO_OUT         on_load opens no file (no "out" needed), records nothing and
 *                           subscribes to nothing (tests that must not use a descriptor)
 *
 * Config keys (read with config_get): out (file), events (mask as a number, default all),
 * fail_load (message: on_load fails with it), fail_every (N: every Nth event fails),
 * sleep_us (per event), log_thread (true: log from a thread of its own during on_load),
 * unload_error (message: on_unload logs it at error level through host->log),
 * resume (N: resume_height returns N), fail_resume (message: resume_height fails with it;
 * both ABI 1.1: built against the 1.0 header the recorder has no resume_height),
 * panic_word (unused in C; kept for symmetry with the Rust test plugin).
 *
 * Lines written: "create", "name", "load reload=R file=F json=J", "subscribed M", "resume H",
 * "ev K H <fields as hex or numbers>", "batch N", "unload", "destroy", and "fini" from the
 * library destructor (proves the library was closed).
 */
#define _POSIX_C_SOURCE 200809L
#define SLIPSTREAM_ERROR_HELPER
#include "slipstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef RECORDER_NAME
#define RECORDER_NAME "recorder"
#endif

typedef struct recorder {
    slipstream_plugin base;
    const slipstream_host *host;
    FILE *out;
    uint64_t mask;
    uint64_t fail_every;
    uint64_t seen;
    long sleep_us;
    char unload_error[256];
    uint64_t resume;
    char fail_resume[256];
} recorder;

/* Where the destructor reports "fini": set in on_load, lives in the library. */
static char fini_path[4096];

static void record(recorder *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record(recorder *r, const char *fmt, ...) {
    if (r == NULL || r->out == NULL) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
    fputc('\n', r->out);
    fflush(r->out);
}

static void hex(FILE *f, slipstream_bytes b) {
    fputc(' ', f);
    if (b.len == 0) {
        fputc('-', f);
        return;
    }
    for (uint64_t i = 0; i < b.len; i++) fprintf(f, "%02x", b.ptr[i]);
}

static int64_t config(recorder *r, const char *key, char *buf, uint64_t cap) {
    return r->host->config_get(r->host->ctx, key, buf, cap);
}

static const char *rec_name(const slipstream_plugin *self) {
    (void)self;
#if defined(RECORDER_NAME_NULL)
    return NULL;
#elif defined(RECORDER_NAME_EMPTY)
    return "";
#else
    return RECORDER_NAME;
#endif
}

static void rec_destroy(slipstream_plugin *self) {
    recorder *r = (recorder *)self;
    record(r, "destroy");
    if (r->out) fclose(r->out);
    free(r);
}

static void *log_thread(void *arg) {
    const slipstream_host *h = arg;
    h->log(h->ctx, SLIPSTREAM_LOG_INFO, "hello from a plugin thread");
    return NULL;
}

static int32_t rec_on_load(slipstream_plugin *self, const slipstream_load_args *args, slipstream_error *err) {
    recorder *r = (recorder *)self;
    char buf[4096];
    r->host = args->host;
#ifdef RECORDER_NO_OUT
    return SLIPSTREAM_OK;
#endif
    if (config(r, "out", buf, sizeof buf) < 0) return slipstream_error_set(err, "config key \"out\" is not set");
    r->out = fopen(buf, "ab"); /* binary: "\n", not "\r\n", on Windows */
    if (r->out == NULL) return slipstream_error_set(err, "cannot open %s", buf);
    snprintf(fini_path, sizeof fini_path, "%s", buf);
    record(r, "load reload=%d file=%s json=%s", args->is_reload, args->config_file, args->config_json);
    r->mask = SLIPSTREAM_MASK_ALL;
    if (config(r, "events", buf, sizeof buf) >= 0) r->mask = strtoull(buf, NULL, 0);
    if (config(r, "fail_every", buf, sizeof buf) >= 0) r->fail_every = strtoull(buf, NULL, 0);
    if (config(r, "sleep_us", buf, sizeof buf) >= 0) r->sleep_us = strtol(buf, NULL, 0);
    if (config(r, "unload_error", r->unload_error, sizeof r->unload_error) < 0) r->unload_error[0] = '\0';
    if (config(r, "resume", buf, sizeof buf) >= 0) r->resume = strtoull(buf, NULL, 0);
    if (config(r, "fail_resume", r->fail_resume, sizeof r->fail_resume) < 0) r->fail_resume[0] = '\0';
    /* config_get with a short buffer truncates and still reports the full length. */
    char small[4];
    int64_t full = config(r, "out", small, sizeof small);
    if (full < 4 || strlen(small) != 3) return slipstream_error_set(err, "config_get truncation broken");
    if (config(r, "log_thread", buf, sizeof buf) >= 0 && strcmp(buf, "true") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, log_thread, (void *)args->host) != 0) return slipstream_error_set(err, "pthread_create");
        pthread_join(t, NULL);
    }
    args->host->log(args->host->ctx, SLIPSTREAM_LOG_INFO, "recorder loaded");
    if (config(r, "fail_load", buf, sizeof buf) >= 0) return slipstream_error_set(err, "%s", buf);
    return SLIPSTREAM_OK;
}

static void rec_on_unload(slipstream_plugin *self) {
    recorder *r = (recorder *)self;
    record(r, "unload");
    if (r->unload_error[0] != '\0') r->host->log(r->host->ctx, SLIPSTREAM_LOG_ERROR, r->unload_error);
}

static uint64_t rec_subscribed(const slipstream_plugin *self) {
    recorder *r = (recorder *)self;
    record(r, "subscribed %llu", (unsigned long long)r->mask);
    return r->mask;
}

static int32_t rec_event(recorder *r, const slipstream_event *e, slipstream_error *err) {
    FILE *f = r->out;
    fprintf(f, "ev %u %u", e->kind, e->block_height);
    switch (e->kind) {
    case SLIPSTREAM_EVENT_MAPPING_UPDATE:
        hex(f, e->mapping_update.program_id);
        hex(f, e->mapping_update.mapping_name);
        hex(f, e->mapping_update.key);
        hex(f, e->mapping_update.value);
        break;
    case SLIPSTREAM_EVENT_MAPPING_REMOVAL:
        hex(f, e->mapping_removal.program_id);
        hex(f, e->mapping_removal.mapping_name);
        if (e->mapping_removal.has_key) hex(f, e->mapping_removal.key);
        else fputs(" nokey", f);
        break;
    case SLIPSTREAM_EVENT_STAKING_REWARD:
        hex(f, e->staking_reward.staker);
        hex(f, e->staking_reward.validator);
        fprintf(f, " %llu %llu", (unsigned long long)e->staking_reward.reward,
                (unsigned long long)e->staking_reward.new_stake);
        break;
    case SLIPSTREAM_EVENT_BLOCK:
        hex(f, e->block.block);
        break;
    default:
        fputs(" unknown", f);
    }
    fputc('\n', f);
    fflush(f);
    if (r->sleep_us > 0) {
        struct timespec ts = {r->sleep_us / 1000000, (r->sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    r->seen++;
    if (r->fail_every && r->seen % r->fail_every == 0)
        return slipstream_error_set(err, "recorder: event %llu fails on purpose", (unsigned long long)r->seen);
    return SLIPSTREAM_OK;
}

__attribute__((unused)) static int32_t rec_broadcast(slipstream_plugin *self, const slipstream_event *e, slipstream_error *err) {
    return rec_event((recorder *)self, e, err);
}

__attribute__((unused)) static int32_t rec_broadcast_batch(slipstream_plugin *self, const slipstream_event *evs, uint64_t n,
                                   slipstream_error *err) {
    recorder *r = (recorder *)self;
    record(r, "batch %llu", (unsigned long long)n);
    int32_t rc = SLIPSTREAM_OK;
    for (uint64_t i = 0; i < n; i++)
        if (rec_event(r, &evs[i], err) != SLIPSTREAM_OK) rc = SLIPSTREAM_ERROR;
    return rc;
}

#if SLIPSTREAM_ABI_MINOR >= 1
static int32_t rec_resume(slipstream_plugin *self, uint64_t *height, slipstream_error *err) {
    recorder *r = (recorder *)self;
    if (r->fail_resume[0] != '\0') return slipstream_error_set(err, "%s", r->fail_resume);
    record(r, "resume %llu", (unsigned long long)r->resume);
    *height = r->resume;
    return SLIPSTREAM_OK;
}
#endif

__attribute__((unused)) static const slipstream_plugin_vtable rec_vtable = {
#ifdef RECORDER_SMALL_VTABLE
    .struct_size = 8,
#else
    .struct_size = sizeof(slipstream_plugin_vtable),
#endif
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = rec_name,
    .destroy = rec_destroy,
    .on_load = rec_on_load,
    .on_unload = rec_on_unload,
    .subscribed_events = rec_subscribed,
#if defined(RECORDER_NO_CALLBACK)
    .on_broadcast = NULL,
    .on_broadcast_batch = NULL,
#elif defined(RECORDER_BATCH)
    .on_broadcast = NULL,
    .on_broadcast_batch = rec_broadcast_batch,
#else
    .on_broadcast = rec_broadcast,
    .on_broadcast_batch = NULL,
#endif
#if SLIPSTREAM_ABI_MINOR >= 1
    .resume_height = rec_resume,
#endif
};

__attribute__((unused)) static slipstream_plugin *rec_create(void) {
#ifdef RECORDER_CREATE_NULL
    return NULL;
#else
    recorder *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->base.vtable = &rec_vtable;
    return &r->base;
#endif
}

__attribute__((destructor)) static void rec_fini(void) {
    if (fini_path[0] == '\0') return;
    FILE *f = fopen(fini_path, "ab");
    if (f) {
        fputs("fini\n", f);
        fclose(f);
    }
}

#ifndef RECORDER_NO_VERSION
SLIPSTREAM_EXPORT uint32_t slipstream_abi_version(void) {
#ifdef RECORDER_ABI
    return RECORDER_ABI;
#else
    return SLIPSTREAM_ABI_VERSION;
#endif
}
#endif

#ifndef RECORDER_NO_CREATE
SLIPSTREAM_EXPORT slipstream_plugin *_create_plugin(void) { return rec_create(); }
#endif
