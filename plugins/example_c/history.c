/*
 * history.c — the Slipstream history plugin: every mapping update and removal with its
 * height, every staking reward and every block, stored in SQLite (default) or PostgreSQL.
 *
 * Commit unit: a block. A block ends with its Block event (or, should a host not send one,
 * when an event of another height arrives). The backend commits when `batch_blocks` ended
 * blocks are pending (default 256) or `batch_ms` milliseconds have passed since the first
 * uncommitted write (default 100; 0 turns the time condition off), whichever comes first:
 * large transactions while a node replays, and a live block visible within batch_ms. The time
 * condition holds without further events: a timer thread, started by on_load and joined by
 * on_unload (or destroy), commits an overdue batch. A mutex serializes the timer and the
 * host's calls on the backend's connection. on_unload commits whatever is pending.
 *
 * Position (ABI 1.1 resume_height): the table slipstream_position holds the first height not
 * yet wholly stored, written by every commit in the same transaction as the rows: the height
 * after the last block that had *ended* (its Block event, or an event of a later height) when
 * the commit ran. A block cut short by on_unload (or by a timed commit) is committed but not
 * counted, so the host
 * delivers it again on the next load (and idempotence completes it); a crash loses the
 * uncommitted batch and its position together. After a failed write or commit the position
 * stops advancing for the rest of the instance's life (the lost blocks are not stored, though
 * later ones may be), so a restart re-delivers from the first lost block. resume_height
 * returns the stored position (0 for a new database).
 *
 * Idempotence: `seq` numbers the mapping events of a block (0, 1, 2 …) and is part of every
 * history primary key, so the same block delivered again yields the same keys and the
 * backends' INSERT OR IGNORE / ON CONFLICT DO NOTHING change nothing. A block whose first
 * delivery was only partly stored (on_unload in mid-block) is completed by its replay.
 *
 * Failure: a failed write or commit rolls back the whole uncommitted batch, logs the heights
 * it lost (so the operator knows what to replay) and drops the rest of the failed block's
 * events; the next block starts afresh. The callback returns SLIPSTREAM_ERROR once, with the
 * cause; the process is never aborted.
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock under -std=c11 */
#endif
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HISTORY_NAME "history"
#define DEFAULT_SQLITE_FILE "history.db"
#define DEFAULT_SCHEMA "public"
#define MAX_BATCH_BLOCKS 1000000u
#define MAX_BATCH_MS 3600000u /* an hour */
#define DEFAULT_BATCH_BLOCKS 256u
#define DEFAULT_BATCH_MS 100u

/* The timer's clock: monotonic where condition variables can wait on it. */
#ifdef __APPLE__
#define HIST_CLOCK CLOCK_REALTIME
#else
#define HIST_CLOCK CLOCK_MONOTONIC
#endif

typedef struct history {
    slipstream_plugin base;
    const slipstream_host *host; /* valid until destroy */
    hist_backend *be;            /* NULL until on_load succeeds, and after on_unload */
    uint32_t batch_blocks;
    uint32_t batch_ms;           /* 0: no time condition */

    /* The timer thread. mu guards everything below and the backend (the host's calls and the
       timer's commits never run on the connection at once); wake tells the timer that a batch
       started or that it must stop. */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t timer;
    int timer_running;   /* started and not yet joined */
    int timer_stop;      /* set under mu: the timer returns */
    struct timespec due; /* when the pending batch must be committed (batch_ms after its first write) */
    char timer_error[512]; /* a timed commit's failure, reported by the next broadcast call */

    /* the block being received */
    int in_block;         /* an event of cur_height arrived and its block has not ended */
    int skip_block;       /* a write of this block failed: drop its remaining events */
    uint32_t cur_height;
    uint32_t seq;         /* next mapping event's position in the block */

    /* the uncommitted batch */
    int pending;                   /* something written since the last commit */
    uint32_t pending_from;         /* height of the batch's first block */
    uint32_t blocks_pending;       /* blocks ended since the last commit */

    /* the resume position */
    uint64_t next_height;      /* height after the last ended, stored-or-pending block */
    uint64_t committed_next;   /* what the last commit stored (or resume_height read) */
    int position_frozen;       /* a block was lost: next_height stays at committed_next */
} history;

/* ---- host services ---------------------------------------------------------------------- */

/* Does the host's struct (of its own struct_size) contain `field`? */
#define HOST_HAS(host, field) \
    ((host) != NULL && (host)->struct_size >= offsetof(slipstream_host, field) + sizeof((host)->field) && (host)->field != NULL)

#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
static void hlog(const history *h, int32_t level, const char *fmt, ...) {
    if (!HOST_HAS(h->host, log)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->host->log(h->host->ctx, level, msg);
}

/* Reads config key `key` into a new string (*out, caller frees); *out stays NULL when the key
   is absent. Fails only when out of memory. */
static int32_t config_string(const slipstream_host *host, const char *key, char **out, slipstream_error *err) {
    *out = NULL;
    if (!HOST_HAS(host, config_get)) return SLIPSTREAM_OK;
    int64_t n = host->config_get(host->ctx, key, NULL, 0);
    while (n >= 0) {
        char *buf = malloc((size_t)n + 1);
        if (buf == NULL) return slipstream_error_set(err, "history: out of memory reading config key %s", key);
        int64_t m = host->config_get(host->ctx, key, buf, (uint64_t)n + 1);
        if (m >= 0 && m <= n) { /* it fitted */
            buf[m] = '\0';
            *out = buf;
            return SLIPSTREAM_OK;
        }
        free(buf);
        n = m; /* the value changed size under us: try again with the new one */
    }
    return SLIPSTREAM_OK;
}

/* Reads config key `key` as a path (relative to the config file's directory, as libpath is)
   into a new string, as config_string does. */
static int32_t config_path_string(const slipstream_load_args *args, const char *key, char **out,
                                  slipstream_error *err) {
    int64_t n = slipstream_config_path(args, key, NULL, 0);
    *out = NULL;
    while (n >= 0) {
        char *buf = malloc((size_t)n + 1);
        if (buf == NULL) return slipstream_error_set(err, "history: out of memory reading config key %s", key);
        int64_t m = slipstream_config_path(args, key, buf, (uint64_t)n + 1);
        if (m >= 0 && m <= n) {
            *out = buf;
            return SLIPSTREAM_OK;
        }
        free(buf);
        n = m;
    }
    return SLIPSTREAM_OK;
}

/* strdup is POSIX, not C11. */
static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

/* ---- configuration ---------------------------------------------------------------------- */

typedef struct history_config {
    char *sqlite;   /* absolute or relative to the config file's directory */
    char *postgres; /* libpq conninfo */
    char *schema;
    uint32_t batch_blocks;
    uint32_t batch_ms;
} history_config;

static void config_free(history_config *c) {
    free(c->sqlite);
    free(c->postgres);
    free(c->schema);
    memset(c, 0, sizeof *c);
}

/* Parses config key `key`'s text as an integer from min to max. */
static int32_t parse_uint(const char *key, const char *text, uint32_t min, uint32_t max, uint32_t *out,
                          slipstream_error *err) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || errno != 0 || *end != '\0' || v < min || v > max) {
        return slipstream_error_set(err, "history: %s must be an integer from %u to %u, not \"%s\"", key, min, max,
                                    text);
    }
    *out = (uint32_t)v;
    return SLIPSTREAM_OK;
}

static int is_absolute(const char *path) {
#ifdef _WIN32
    if (path[0] == '\\' || (path[0] != '\0' && path[1] == ':')) return 1;
#endif
    return path[0] == '/';
}

/* Resolves a relative `path` against the directory of `config_file` (absolute per the ABI). */
static int32_t resolve_path(const char *config_file, char **path, slipstream_error *err) {
    if (is_absolute(*path) || config_file == NULL) return SLIPSTREAM_OK;
    const char *slash = strrchr(config_file, '/');
#ifdef _WIN32
    const char *bslash = strrchr(config_file, '\\');
    if (bslash != NULL && (slash == NULL || bslash > slash)) slash = bslash;
#endif
    if (slash == NULL) return SLIPSTREAM_OK;
    size_t dir_len = (size_t)(slash - config_file) + 1; /* keep the separator */
    size_t len = dir_len + strlen(*path) + 1;
    char *joined = malloc(len);
    if (joined == NULL) return slipstream_error_set(err, "history: out of memory");
    memcpy(joined, config_file, dir_len);
    strcpy(joined + dir_len, *path);
    free(*path);
    *path = joined;
    return SLIPSTREAM_OK;
}

static int32_t read_config(const slipstream_load_args *args, history_config *c, slipstream_error *err) {
    const slipstream_host *host = args->host;
    char *batch = NULL, *batch_ms = NULL;
    c->batch_blocks = DEFAULT_BATCH_BLOCKS;
    c->batch_ms = DEFAULT_BATCH_MS;
    int32_t rc = SLIPSTREAM_OK;
    if (config_path_string(args, "sqlite", &c->sqlite, err) || config_string(host, "postgres", &c->postgres, err) ||
        config_string(host, "schema", &c->schema, err) || config_string(host, "batch_blocks", &batch, err) ||
        config_string(host, "batch_ms", &batch_ms, err)) {
        rc = SLIPSTREAM_ERROR;
    }
    if (rc == SLIPSTREAM_OK && batch != NULL) {
        rc = parse_uint("batch_blocks", batch, 1, MAX_BATCH_BLOCKS, &c->batch_blocks, err);
    }
    if (rc == SLIPSTREAM_OK && batch_ms != NULL) rc = parse_uint("batch_ms", batch_ms, 0, MAX_BATCH_MS, &c->batch_ms, err);
    free(batch);
    free(batch_ms);
    if (rc != SLIPSTREAM_OK) return rc;
    if (c->sqlite != NULL && c->postgres != NULL) {
        return slipstream_error_set(err, "history: set either \"sqlite\" or \"postgres\" in the config, not both");
    }
    if ((c->sqlite != NULL && c->sqlite[0] == '\0') || (c->postgres != NULL && c->postgres[0] == '\0')) {
        return slipstream_error_set(err, "history: \"%s\" is empty", c->sqlite != NULL ? "sqlite" : "postgres");
    }
    if (c->postgres == NULL && c->sqlite == NULL) {
        c->sqlite = dup_string(DEFAULT_SQLITE_FILE);
        if (c->sqlite == NULL) return slipstream_error_set(err, "history: out of memory");
        return resolve_path(args->config_file, &c->sqlite, err); /* the default is relative too */
    }
    if (c->sqlite != NULL) return SLIPSTREAM_OK; /* already resolved by config_path_string */
    if (c->schema == NULL || c->schema[0] == '\0') {
        free(c->schema);
        c->schema = dup_string(DEFAULT_SCHEMA);
        if (c->schema == NULL) return slipstream_error_set(err, "history: out of memory");
    }
    return SLIPSTREAM_OK;
}

/* ---- batching ------------------------------------------------------------------------- */

/* Has the pending batch's batch_ms passed? */
static int overdue(const history *h) {
    if (h->batch_ms == 0 || !h->pending) return 0;
    struct timespec now;
    clock_gettime(HIST_CLOCK, &now);
    return now.tv_sec > h->due.tv_sec || (now.tv_sec == h->due.tv_sec && now.tv_nsec >= h->due.tv_nsec);
}

/* A write starts a new batch: it is due batch_ms from now; the timer learns of it. */
static void batch_started(history *h) {
    h->pending_from = h->cur_height; /* the block begin_event started or continues */
    if (h->batch_ms == 0) return;
    clock_gettime(HIST_CLOCK, &h->due);
    h->due.tv_sec += h->batch_ms / 1000;
    h->due.tv_nsec += (long)(h->batch_ms % 1000) * 1000000L;
    if (h->due.tv_nsec >= 1000000000L) {
        h->due.tv_sec++;
        h->due.tv_nsec -= 1000000000L;
    }
    if (h->timer_running) pthread_cond_signal(&h->wake);
}

static void backend_log(void *ctx, int32_t level, const char *msg) {
    const history *h = ctx;
    if (HOST_HAS(h->host, log)) h->host->log(h->host->ctx, level, msg);
}

/* Forgets the uncommitted batch after a failure; `err` already holds the cause. */
static int32_t fail(history *h, slipstream_error *err) {
    h->be->ops->rollback(h->be);
    if (h->pending) {
        hlog(h, SLIPSTREAM_LOG_ERROR, "history: blocks %u..%u not stored (replay them): %s", h->pending_from,
             h->cur_height, err != NULL && err->buf != NULL ? err->buf : "");
    }
    /* Blocks were lost: the stored position must never pass them. */
    if (!h->position_frozen) {
        hlog(h, SLIPSTREAM_LOG_WARN, "history: resume position held at %llu until the plugin is reloaded",
             (unsigned long long)h->committed_next);
    }
    h->next_height = h->committed_next;
    h->position_frozen = 1;
    h->pending = 0;
    h->blocks_pending = 0;
    if (h->in_block) h->skip_block = 1;
    return SLIPSTREAM_ERROR;
}

static int32_t commit(history *h, slipstream_error *err) {
    if (h->next_height > h->committed_next && h->be->ops->put_position(h->be, h->next_height, err) != SLIPSTREAM_OK) {
        return fail(h, err);
    }
    if (h->be->ops->commit(h->be, err) != SLIPSTREAM_OK) return fail(h, err);
    if (h->next_height > h->committed_next) h->committed_next = h->next_height;
    h->pending = 0;
    h->blocks_pending = 0;
    return SLIPSTREAM_OK;
}

/* The current block is complete: commit when the batch is full or overdue. */
static int32_t end_block(history *h, slipstream_error *err) {
    h->in_block = 0;
    if (h->skip_block) {
        h->skip_block = 0;
        return SLIPSTREAM_OK;
    }
    if (!h->position_frozen && (uint64_t)h->cur_height + 1 > h->next_height) h->next_height = (uint64_t)h->cur_height + 1;
    if (++h->blocks_pending < h->batch_blocks && !overdue(h)) return SLIPSTREAM_OK;
    return commit(h, err);
}

/* Called before every event: notices block boundaries. Returns an error only when ending the
   previous block failed to commit; the new block is then dropped too (skip_block), since part
   of it would be missing. */
static int32_t begin_event(history *h, uint32_t height, slipstream_error *err) {
    int32_t rc = SLIPSTREAM_OK;
    if (h->in_block && height != h->cur_height) rc = end_block(h, err); /* host sent no Block event */
    if (!h->in_block) {
        h->in_block = 1;
        h->cur_height = height;
        h->seq = 0;
        h->skip_block = rc != SLIPSTREAM_OK;
    }
    return rc;
}

/* ---- events ----------------------------------------------------------------------------- */

static int32_t write_event(history *h, const slipstream_event *ev, slipstream_error *err) {
    const hist_backend_ops *ops = h->be->ops;
    switch (ev->kind) {
    case SLIPSTREAM_EVENT_MAPPING_UPDATE: {
        const slipstream_bytes *v = &ev->mapping_update.value;
        return ops->put_update(h->be, &ev->mapping_update.program_id, &ev->mapping_update.mapping_name,
                               &ev->mapping_update.key, v, ev->block_height, h->seq++, err);
    }
    case SLIPSTREAM_EVENT_MAPPING_REMOVAL:
        if (ev->mapping_removal.has_key) { /* a key removed: a NULL value in its history */
            return ops->put_update(h->be, &ev->mapping_removal.program_id, &ev->mapping_removal.mapping_name,
                                   &ev->mapping_removal.key, NULL, ev->block_height, h->seq++, err);
        }
        return ops->put_mapping_removal(h->be, &ev->mapping_removal.program_id, &ev->mapping_removal.mapping_name,
                                        ev->block_height, h->seq++, err);
    case SLIPSTREAM_EVENT_STAKING_REWARD:
        return ops->put_reward(h->be, &ev->staking_reward.staker, &ev->staking_reward.validator, ev->block_height,
                               ev->staking_reward.reward, ev->staking_reward.new_stake, err);
    case SLIPSTREAM_EVENT_BLOCK:
        return ops->put_block(h->be, &ev->block.block, ev->block_height, err);
    default:
        return SLIPSTREAM_OK;
    }
}

static int32_t handle(history *h, const slipstream_event *ev, slipstream_error *err) {
    if (ev->kind >= SLIPSTREAM_EVENT_KIND_COUNT) return SLIPSTREAM_OK; /* a newer kind: not ours */
    if (h->be == NULL) return slipstream_error_set(err, "history: not loaded");
    if (begin_event(h, ev->block_height, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (!h->skip_block) {
        if (!h->pending) batch_started(h);
        if (write_event(h, ev, err) != SLIPSTREAM_OK) return fail(h, err);
        h->pending = 1;
    }
    return ev->kind == SLIPSTREAM_EVENT_BLOCK ? end_block(h, err) : SLIPSTREAM_OK;
}

/* A failed timed commit (already logged) is reported once, by the next broadcast call. */
static int32_t timer_failure(history *h, slipstream_error *err) {
    if (h->timer_error[0] == '\0') return SLIPSTREAM_OK;
    slipstream_error_set(err, "%s", h->timer_error);
    h->timer_error[0] = '\0';
    return SLIPSTREAM_ERROR;
}

static int32_t history_broadcast(slipstream_plugin *self, const slipstream_event *event, slipstream_error *err) {
    history *h = (history *)self;
    pthread_mutex_lock(&h->mu);
    char scratch[256];
    slipstream_error later = {scratch, sizeof scratch};
    int32_t rc = timer_failure(h, err);
    if (handle(h, event, rc == SLIPSTREAM_OK ? err : &later) != SLIPSTREAM_OK) rc = SLIPSTREAM_ERROR;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* Every event is handled even after a failure (later blocks of the batch are still stored);
   the first failure's message is the one reported. */
static int32_t history_broadcast_batch(slipstream_plugin *self, const slipstream_event *events, uint64_t count,
                                       slipstream_error *err) {
    history *h = (history *)self;
    char scratch[256];
    slipstream_error later = {scratch, sizeof scratch};
    pthread_mutex_lock(&h->mu);
    int32_t rc = timer_failure(h, err);
    for (uint64_t i = 0; i < count; i++) {
        scratch[0] = '\0';
        if (handle(h, &events[i], rc == SLIPSTREAM_OK ? err : &later) != SLIPSTREAM_OK) rc = SLIPSTREAM_ERROR;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* ---- lifecycle -------------------------------------------------------------------------- */

static const char *history_name(const slipstream_plugin *self) {
    (void)self;
    return HISTORY_NAME;
}

static uint64_t history_subscribed(const slipstream_plugin *self) {
    (void)self;
    return SLIPSTREAM_MASK(SLIPSTREAM_EVENT_MAPPING_UPDATE) | SLIPSTREAM_MASK(SLIPSTREAM_EVENT_MAPPING_REMOVAL) |
           SLIPSTREAM_MASK(SLIPSTREAM_EVENT_STAKING_REWARD) | SLIPSTREAM_MASK(SLIPSTREAM_EVENT_BLOCK);
}

static void close_backend(history *h) {
    if (h->be == NULL) return;
    h->be->ops->close(h->be);
    h->be = NULL;
}

/* The timer thread: sleeps until the pending batch is due, then commits it, without waiting
   for the host's next event (a live node may finalize a block every few seconds). */
static void *timer_main(void *arg) {
    history *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->timer_stop) {
        if (!h->pending || h->be == NULL) {
            pthread_cond_wait(&h->wake, &h->mu);
        } else if (!overdue(h)) {
            pthread_cond_timedwait(&h->wake, &h->mu, &h->due);
        } else {
            char msg[sizeof h->timer_error];
            slipstream_error err = {msg, sizeof msg};
            msg[0] = '\0';
            if (commit(h, &err) != SLIPSTREAM_OK) { /* fail() logged the lost heights */
                snprintf(h->timer_error, sizeof h->timer_error, "%s",
                         msg[0] != '\0' ? msg : "history: timed commit failed");
            }
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static int32_t start_timer(history *h, slipstream_error *err) {
    if (h->batch_ms == 0 || h->timer_running) return SLIPSTREAM_OK;
    h->timer_stop = 0;
    int rc = pthread_create(&h->timer, NULL, timer_main, h);
    if (rc != 0) return slipstream_error_set(err, "history: cannot start the commit timer thread: %s", strerror(rc));
    h->timer_running = 1;
    return SLIPSTREAM_OK;
}

/* Stops and joins the timer; it commits nothing more (the caller decides what to commit). */
static void stop_timer(history *h) {
    if (!h->timer_running) return;
    pthread_mutex_lock(&h->mu);
    h->timer_stop = 1;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->timer, NULL);
    h->timer_running = 0;
}

static int32_t history_on_load(slipstream_plugin *self, const slipstream_load_args *args, slipstream_error *err) {
    history *h = (history *)self;
    if (args == NULL) return slipstream_error_set(err, "history: on_load without arguments");
    h->host = args->host;
    close_backend(h); /* not expected: on_load runs once per instance */
    history_config c;
    memset(&c, 0, sizeof c);
    int32_t rc = read_config(args, &c, err);
    hist_logger logger = {backend_log, h};
    if (rc == SLIPSTREAM_OK) {
        rc = c.postgres != NULL ? hist_pg_open(c.postgres, c.schema, logger, &h->be, err)
                                : hist_sqlite_open(c.sqlite, logger, &h->be, err);
    }
    if (rc == SLIPSTREAM_OK) {
        h->batch_blocks = c.batch_blocks;
        h->batch_ms = c.batch_ms;
        rc = start_timer(h, err);
        if (rc != SLIPSTREAM_OK) close_backend(h);
    }
    if (rc == SLIPSTREAM_OK) {
        /* never log the conninfo: it may hold a password */
        hlog(h, SLIPSTREAM_LOG_INFO, "history: %s backend ready (%s %s), batch_blocks=%u, batch_ms=%u%s",
             h->be->ops->name, c.postgres != NULL ? "schema" : "file", c.postgres != NULL ? c.schema : c.sqlite,
             h->batch_blocks, h->batch_ms, args->is_reload ? ", reloaded" : "");
    }
    config_free(&c);
    return rc;
}

/* The stored position: read between transactions (the host calls it before any event). */
static int32_t history_resume_height(slipstream_plugin *self, uint64_t *height, slipstream_error *err) {
    history *h = (history *)self;
    if (height == NULL) return slipstream_error_set(err, "history: resume_height without a result pointer");
    if (h->be == NULL) return slipstream_error_set(err, "history: resume_height before on_load");
    uint64_t stored = 0;
    pthread_mutex_lock(&h->mu);
    int32_t rc = h->be->ops->get_position(h->be, &stored, err);
    if (rc == SLIPSTREAM_OK) {
        if (stored > h->committed_next) h->committed_next = stored;
        if (h->committed_next > h->next_height && !h->position_frozen) h->next_height = h->committed_next;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    *height = stored;
    hlog(h, SLIPSTREAM_LOG_INFO, "history: resuming at height %llu", (unsigned long long)stored);
    return SLIPSTREAM_OK;
}

static void history_on_unload(slipstream_plugin *self) {
    history *h = (history *)self;
    stop_timer(h); /* before the final commit: from here on only this thread uses the backend */
    if (h->be == NULL) return;
    char msg[512];
    slipstream_error err = {msg, sizeof msg};
    msg[0] = '\0';
    if (h->pending && commit(h, &err) != SLIPSTREAM_OK) {
        hlog(h, SLIPSTREAM_LOG_ERROR, "history: final commit failed: %s", msg);
    }
    close_backend(h);
    h->in_block = 0;
}

static void history_destroy(slipstream_plugin *self) {
    history *h = (history *)self;
    stop_timer(h);    /* a host that skipped on_unload: what is pending is dropped, as in a crash */
    close_backend(h); /* after a failed on_load, or a host that skipped on_unload */
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static const slipstream_plugin_vtable history_vtable = {
    .struct_size = sizeof(slipstream_plugin_vtable),
    .abi_major = SLIPSTREAM_ABI_MAJOR,
    .abi_minor = SLIPSTREAM_ABI_MINOR,
    .name = history_name,
    .destroy = history_destroy,
    .on_load = history_on_load,
    .on_unload = history_on_unload,
    .subscribed_events = history_subscribed,
    .on_broadcast = history_broadcast,
    .on_broadcast_batch = history_broadcast_batch,
    .resume_height = history_resume_height,
};

static slipstream_plugin *history_create(void) {
    history *h = calloc(1, sizeof *h);
    if (h == NULL) return NULL;
    h->base.vtable = &history_vtable;
    h->batch_blocks = DEFAULT_BATCH_BLOCKS;
    h->batch_ms = DEFAULT_BATCH_MS;
    pthread_condattr_t attr;
    int ok = pthread_condattr_init(&attr) == 0;
#ifndef __APPLE__
    ok = ok && pthread_condattr_setclock(&attr, HIST_CLOCK) == 0;
#endif
    ok = ok && pthread_cond_init(&h->wake, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok) {
        free(h);
        return NULL;
    }
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        pthread_cond_destroy(&h->wake);
        free(h);
        return NULL;
    }
    return &h->base;
}

SLIPSTREAM_DECLARE_PLUGIN(history_create)
