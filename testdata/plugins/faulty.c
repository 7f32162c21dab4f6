/*
 * The faulty test plugin, for isolation "process": it records every event it gets as a
 * line "ev K H" in the file named by its config key "out" (flushed at once), resumes from
 * that file (resume_height: the highest recorded height + 1), and at the height named by
 * "at" it fails as "fault" says, but only on the first run: it creates the file "marker"
 * first, and a later run that finds it delivers normally.
 *
 *   fault: "segv" (dereferences NULL), "abort", "exit" (exit(3)), "hang" (sleeps for
 *          ever), "throw" (a C++ exception escapes: faulty_throw.cpp, linked in when
 *          FAULTY_CXX is defined)
 *
 *   lose: N (with marker) a run that finds the marker (a restart after the fault) lost
 *          the events of its last N recorded heights, as a store that had not flushed what
 *          it acknowledged: it rewrites its file without them and resumes below them
 *
 * Lines written besides the events: "load resume=H" per load, "unload" and "destroy".
 * Built against ABI 1.1 (resume_height); events of one height must not be split by a
 * fault (the tests send one event per height).
 */
#define _POSIX_C_SOURCE 200809L
#define SLIPSTREAM_ERROR_HELPER
#include "slipstream.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef FAULTY_CXX
void faulty_throw(void);
#endif

typedef struct faulty {
    slipstream_plugin base;
    const slipstream_host *host;
    FILE *out;
    char fault[32];
    char marker[4096];
    uint64_t at;
    uint64_t resume;
    uint64_t lose;
} faulty;

static int64_t config(faulty *f, const char *key, char *buf, uint64_t cap) {
    return f->host->config_get(f->host->ctx, key, buf, cap);
}

static const char *f_name(const slipstream_plugin *self) {
    (void)self;
    return "faulty";
}

static void f_destroy(slipstream_plugin *self) {
    faulty *f = (faulty *)self;
    if (f->out) {
        fputs("destroy\n", f->out);
        fclose(f->out);
    }
    free(f);
}

static int32_t f_on_load(slipstream_plugin *self, const slipstream_load_args *args, slipstream_error *err) {
    faulty *f = (faulty *)self;
    char path[4096], buf[64];
    f->host = args->host;
    if (config(f, "out", path, sizeof path) < 0) return slipstream_error_set(err, "config key \"out\" is not set");
    if (config(f, "fault", f->fault, sizeof f->fault) < 0) f->fault[0] = '\0';
    if (config(f, "marker", f->marker, sizeof f->marker) < 0) f->marker[0] = '\0';
    if (config(f, "at", buf, sizeof buf) >= 0) f->at = strtoull(buf, NULL, 0);
    if (config(f, "lose", buf, sizeof buf) >= 0) f->lose = strtoull(buf, NULL, 0);
    /* Resume after the highest height recorded so far. */
    FILE *in = fopen(path, "r");
    if (in != NULL) {
        char line[256];
        unsigned k, h;
        while (fgets(line, sizeof line, in) != NULL)
            if (sscanf(line, "ev %u %u", &k, &h) == 2 && (uint64_t)h + 1 > f->resume) f->resume = (uint64_t)h + 1;
        if (f->lose > 0 && f->marker[0] != '\0' && access(f->marker, F_OK) == 0 && f->resume > 0)
            f->resume = f->resume > f->lose ? f->resume - f->lose : 0;
        else
            f->lose = 0;
        if (f->lose > 0) { /* keep what lies below the new resume height */
            char tmp[4200];
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            FILE *t = fopen(tmp, "w");
            if (t == NULL) {
                fclose(in);
                return slipstream_error_set(err, "cannot open %s", tmp);
            }
            rewind(in);
            while (fgets(line, sizeof line, in) != NULL)
                if (sscanf(line, "ev %u %u", &k, &h) != 2 || (uint64_t)h < f->resume) fputs(line, t);
            fclose(t);
            rename(tmp, path);
        }
        fclose(in);
    }
    f->out = fopen(path, "a");
    if (f->out == NULL) return slipstream_error_set(err, "cannot open %s", path);
    fprintf(f->out, "load resume=%llu\n", (unsigned long long)f->resume);
    fflush(f->out);
    args->host->log(args->host->ctx, SLIPSTREAM_LOG_INFO, "faulty loaded");
    return SLIPSTREAM_OK;
}

static void f_on_unload(slipstream_plugin *self) {
    faulty *f = (faulty *)self;
    fputs("unload\n", f->out);
    fflush(f->out);
}

static uint64_t f_subscribed(const slipstream_plugin *self) {
    (void)self;
    return SLIPSTREAM_MASK_ALL;
}

/* fault_now reports whether this is the first run reaching the fault height. */
static int fault_now(faulty *f, uint32_t height) {
    if (f->fault[0] == '\0' || height != f->at || f->marker[0] == '\0') return 0;
    if (access(f->marker, F_OK) == 0) return 0;
    FILE *m = fopen(f->marker, "w");
    if (m != NULL) fclose(m);
    return 1;
}

static int32_t f_on_broadcast(slipstream_plugin *self, const slipstream_event *e, slipstream_error *err) {
    faulty *f = (faulty *)self;
    (void)err;
    if (fault_now(f, e->block_height)) {
        f->host->log(f->host->ctx, SLIPSTREAM_LOG_WARN, "faulty: failing now");
        if (strcmp(f->fault, "segv") == 0) {
            volatile int *p = NULL;
            *p = 42;
        } else if (strcmp(f->fault, "abort") == 0) {
            abort();
        } else if (strcmp(f->fault, "exit") == 0) {
            exit(3);
        } else if (strcmp(f->fault, "hang") == 0) {
            for (;;) {
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
            }
        } else if (strcmp(f->fault, "throw") == 0) {
#ifdef FAULTY_CXX
            faulty_throw();
#endif
        }
    }
    fprintf(f->out, "ev %u %u\n", e->kind, e->block_height);
    fflush(f->out);
    return SLIPSTREAM_OK;
}

static int32_t f_resume(slipstream_plugin *self, uint64_t *height, slipstream_error *err) {
    (void)err;
    *height = ((faulty *)self)->resume;
    return SLIPSTREAM_OK;
}

static const slipstream_plugin_vtable f_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = f_name,
    .destroy = f_destroy,
    .on_load = f_on_load,
    .on_unload = f_on_unload,
    .subscribed_events = f_subscribed,
    .on_broadcast = f_on_broadcast,
    .resume_height = f_resume,
};

SLIPSTREAM_EXPORT uint32_t slipstream_abi_version(void) { return SLIPSTREAM_ABI_VERSION; }

SLIPSTREAM_EXPORT slipstream_plugin *_create_plugin(void) {
    faulty *f = calloc(1, sizeof *f);
    if (f == NULL) return NULL;
    f->base.vtable = &f_vtable;
    return &f->base;
}
