/*
 * history.c — the Slipstream history plugin: every mapping update and removal with its
 * height, every staking reward and every block, stored in SQLite (default) or PostgreSQL.
 *
 * Commit unit: a block. A block ends with its Block event (or, should a host not send one,
 * when an event of another height arrives); every `batch_blocks` ended blocks the backend
 * commits. on_unload commits whatever is pending.
 *
 * Position (ABI 1.1 resume_height): the table slipstream_position holds the first height not
 * yet wholly stored, written by every commit in the same transaction as the rows: the height
 * after the last block that had *ended* (its Block event, or an event of a later height) when
 * the commit ran. A block cut short by on_unload is committed but not counted, so the host
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
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_NAME "history"
#define DEFAULT_SQLITE_FILE "history.db"
#define DEFAULT_SCHEMA "public"
#define MAX_BATCH_BLOCKS 1000000u

typedef struct history {
    slipstream_plugin base;
    const slipstream_host *host; /* valid until destroy */
    hist_backend *be;            /* NULL until on_load succeeds, and after on_unload */
    uint32_t batch_blocks;

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
} history_config;

static void config_free(history_config *c) {
    free(c->sqlite);
    free(c->postgres);
    free(c->schema);
    memset(c, 0, sizeof *c);
}

static int32_t parse_batch_blocks(const char *text, uint32_t *out, slipstream_error *err) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > MAX_BATCH_BLOCKS) {
        return slipstream_error_set(err, "history: batch_blocks must be an integer from 1 to %u, not \"%s\"",
                                    MAX_BATCH_BLOCKS, text);
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
    char *batch = NULL;
    c->batch_blocks = 1;
    if (config_path_string(args, "sqlite", &c->sqlite, err) || config_string(host, "postgres", &c->postgres, err) ||
        config_string(host, "schema", &c->schema, err) || config_string(host, "batch_blocks", &batch, err)) {
        free(batch);
        return SLIPSTREAM_ERROR;
    }
    int32_t rc = batch != NULL ? parse_batch_blocks(batch, &c->batch_blocks, err) : SLIPSTREAM_OK;
    free(batch);
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

/* The current block is complete: commit when the batch is full. */
static int32_t end_block(history *h, slipstream_error *err) {
    h->in_block = 0;
    if (h->skip_block) {
        h->skip_block = 0;
        return SLIPSTREAM_OK;
    }
    if (!h->position_frozen && (uint64_t)h->cur_height + 1 > h->next_height) h->next_height = (uint64_t)h->cur_height + 1;
    if (++h->blocks_pending < h->batch_blocks) return SLIPSTREAM_OK;
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
        if (!h->pending) h->pending_from = height;
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
        if (write_event(h, ev, err) != SLIPSTREAM_OK) return fail(h, err);
        h->pending = 1;
    }
    return ev->kind == SLIPSTREAM_EVENT_BLOCK ? end_block(h, err) : SLIPSTREAM_OK;
}

static int32_t history_broadcast(slipstream_plugin *self, const slipstream_event *event, slipstream_error *err) {
    return handle((history *)self, event, err);
}

/* Every event is handled even after a failure (later blocks of the batch are still stored);
   the first failure's message is the one reported. */
static int32_t history_broadcast_batch(slipstream_plugin *self, const slipstream_event *events, uint64_t count,
                                       slipstream_error *err) {
    history *h = (history *)self;
    char scratch[256];
    slipstream_error later = {scratch, sizeof scratch};
    int32_t rc = SLIPSTREAM_OK;
    for (uint64_t i = 0; i < count; i++) {
        scratch[0] = '\0';
        if (handle(h, &events[i], rc == SLIPSTREAM_OK ? err : &later) != SLIPSTREAM_OK) rc = SLIPSTREAM_ERROR;
    }
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
        /* never log the conninfo: it may hold a password */
        hlog(h, SLIPSTREAM_LOG_INFO, "history: %s backend ready (%s %s), batch_blocks=%u%s", h->be->ops->name,
             c.postgres != NULL ? "schema" : "file", c.postgres != NULL ? c.schema : c.sqlite, h->batch_blocks,
             args->is_reload ? ", reloaded" : "");
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
    if (h->be->ops->get_position(h->be, &stored, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (stored > h->committed_next) h->committed_next = stored;
    if (h->committed_next > h->next_height && !h->position_frozen) h->next_height = h->committed_next;
    *height = stored;
    hlog(h, SLIPSTREAM_LOG_INFO, "history: resuming at height %llu", (unsigned long long)stored);
    return SLIPSTREAM_OK;
}

static void history_on_unload(slipstream_plugin *self) {
    history *h = (history *)self;
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
    close_backend(h); /* after a failed on_load, or a host that skipped on_unload */
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
    h->batch_blocks = 1;
    return &h->base;
}

SLIPSTREAM_DECLARE_PLUGIN(history_create)
