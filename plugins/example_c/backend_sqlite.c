/*
 * backend_sqlite.c — the SQLite backend of the history plugin.
 *
 * One connection, WAL journal, prepared INSERT OR IGNORE statements, and one explicit
 * transaction (BEGIN IMMEDIATE … COMMIT) per commit unit. SQLite's own limit for this shape
 * is what bench_insert measures.
 */
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"
#include "hist_schema.h"

#include <sqlite3.h>
#include <stdlib.h>

enum {
    ST_UPDATE,
    ST_MAPPING_REMOVAL,
    ST_REWARD,
    ST_BLOCK,
    ST_PUT_POSITION,
    ST_GET_POSITION,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_UPDATE] = "INSERT OR IGNORE INTO mapping_history"
                  " (program_id, mapping_name, key, block_height, seq, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_MAPPING_REMOVAL] = "INSERT OR IGNORE INTO mapping_removals"
                           " (program_id, mapping_name, block_height, seq) VALUES (?1, ?2, ?3, ?4)",
    [ST_REWARD] = "INSERT OR IGNORE INTO staking_rewards"
                  " (staker, validator, block_height, reward, new_stake) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_BLOCK] = "INSERT OR IGNORE INTO blocks (block_height, block) VALUES (?1, ?2)",
    [ST_PUT_POSITION] = "INSERT INTO slipstream_position (plugin, next_height) VALUES ('" HIST_POSITION_KEY "', ?1)"
                        " ON CONFLICT (plugin) DO UPDATE SET next_height = max(next_height, excluded.next_height)",
    [ST_GET_POSITION] = "SELECT next_height FROM slipstream_position WHERE plugin = '" HIST_POSITION_KEY "'",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

typedef struct sqlite_backend {
    hist_backend base;
    hist_logger logger;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int in_tx;
} sqlite_backend;

static sqlite_backend *as_sqlite(hist_backend *be) { return (sqlite_backend *)be; }

/* Binds a byte string as a BLOB. An empty string is an empty BLOB, never NULL: NULL in
   mapping_history.value means "removed". SQLITE_STATIC is sound because every statement is
   stepped and reset before the borrowed bytes go away. */
static int bind_bytes(sqlite3_stmt *st, int idx, const slipstream_bytes *b) {
    if (b->len == 0 || b->ptr == NULL) return sqlite3_bind_zeroblob(st, idx, 0);
    return sqlite3_bind_blob64(st, idx, b->ptr, (sqlite3_uint64)b->len, SQLITE_STATIC);
}

/* Steps a statement that returns no rows, resets it, and reports failure. */
static int32_t run(sqlite_backend *s, int which, const char *what, slipstream_error *err) {
    sqlite3_stmt *st = s->stmt[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return slipstream_error_set(err, "history: sqlite: %s failed: %s", what, sqlite3_errmsg(s->db));
    }
    return SLIPSTREAM_OK;
}

static int32_t bind_failed(sqlite_backend *s, int which, slipstream_error *err) {
    sqlite3_reset(s->stmt[which]);
    return slipstream_error_set(err, "history: sqlite: bind failed: %s", sqlite3_errmsg(s->db));
}

/* Opens the transaction on the first write after a commit. */
static int32_t ensure_tx(sqlite_backend *s, slipstream_error *err) {
    if (s->in_tx) return SLIPSTREAM_OK;
    if (run(s, ST_BEGIN, "BEGIN", err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    s->in_tx = 1;
    return SLIPSTREAM_OK;
}

static int32_t sqlite_put_update(hist_backend *be, const slipstream_bytes *program, const slipstream_bytes *mapping,
                                 const slipstream_bytes *key, const slipstream_bytes *value, uint32_t height,
                                 uint32_t seq, slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_UPDATE];
    if (ensure_tx(s, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    int rc = bind_bytes(st, 1, program);
    if (rc == SQLITE_OK) rc = bind_bytes(st, 2, mapping);
    if (rc == SQLITE_OK) rc = bind_bytes(st, 3, key);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)height);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, (sqlite3_int64)seq);
    if (rc == SQLITE_OK) rc = value != NULL ? bind_bytes(st, 6, value) : sqlite3_bind_null(st, 6);
    if (rc != SQLITE_OK) return bind_failed(s, ST_UPDATE, err);
    return run(s, ST_UPDATE, "insert into mapping_history", err);
}

static int32_t sqlite_put_mapping_removal(hist_backend *be, const slipstream_bytes *program,
                                          const slipstream_bytes *mapping, uint32_t height, uint32_t seq,
                                          slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_MAPPING_REMOVAL];
    if (ensure_tx(s, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    int rc = bind_bytes(st, 1, program);
    if (rc == SQLITE_OK) rc = bind_bytes(st, 2, mapping);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)height);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)seq);
    if (rc != SQLITE_OK) return bind_failed(s, ST_MAPPING_REMOVAL, err);
    return run(s, ST_MAPPING_REMOVAL, "insert into mapping_removals", err);
}

/* u64 amounts are stored as the signed 64-bit integer with the same bits (SQLite has no
   unsigned type); readers cast back. Real amounts (microcredits) stay far below 2^63. */
static int32_t sqlite_put_reward(hist_backend *be, const slipstream_bytes *staker, const slipstream_bytes *validator,
                                 uint32_t height, uint64_t reward, uint64_t new_stake, slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_REWARD];
    if (ensure_tx(s, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    int rc = bind_bytes(st, 1, staker);
    if (rc == SQLITE_OK) rc = bind_bytes(st, 2, validator);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)height);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, (sqlite3_int64)reward);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 5, (sqlite3_int64)new_stake);
    if (rc != SQLITE_OK) return bind_failed(s, ST_REWARD, err);
    return run(s, ST_REWARD, "insert into staking_rewards", err);
}

static int32_t sqlite_put_block(hist_backend *be, const slipstream_bytes *block, uint32_t height,
                                slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_BLOCK];
    if (ensure_tx(s, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    int rc = sqlite3_bind_int64(st, 1, (sqlite3_int64)height);
    if (rc == SQLITE_OK) rc = bind_bytes(st, 2, block);
    if (rc != SQLITE_OK) return bind_failed(s, ST_BLOCK, err);
    return run(s, ST_BLOCK, "insert into blocks", err);
}

/* The position is written at once, inside the open transaction: COMMIT stores it with the rows. */
static int32_t sqlite_put_position(hist_backend *be, uint64_t next_height, slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_PUT_POSITION];
    if (next_height > (uint64_t)INT64_MAX) {
        return slipstream_error_set(err, "history: sqlite: position %llu out of range", (unsigned long long)next_height);
    }
    if (ensure_tx(s, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (sqlite3_bind_int64(st, 1, (sqlite3_int64)next_height) != SQLITE_OK) return bind_failed(s, ST_PUT_POSITION, err);
    return run(s, ST_PUT_POSITION, "update slipstream_position", err);
}

static int32_t sqlite_get_position(hist_backend *be, uint64_t *next_height, slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    sqlite3_stmt *st = s->stmt[ST_GET_POSITION];
    *next_height = 0;
    int rc = sqlite3_step(st);
    sqlite3_int64 v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc == SQLITE_ROW) rc = sqlite3_step(st); /* the primary key allows one row: SQLITE_DONE */
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return slipstream_error_set(err, "history: sqlite: cannot read slipstream_position: %s", sqlite3_errmsg(s->db));
    }
    if (v < 0) return slipstream_error_set(err, "history: sqlite: slipstream_position holds %lld", (long long)v);
    *next_height = (uint64_t)v;
    return SLIPSTREAM_OK;
}

static int32_t sqlite_commit(hist_backend *be, slipstream_error *err) {
    sqlite_backend *s = as_sqlite(be);
    if (!s->in_tx) return SLIPSTREAM_OK;
    if (run(s, ST_COMMIT, "COMMIT", err) != SLIPSTREAM_OK) {
        /* A failed COMMIT may leave the transaction open (e.g. SQLITE_BUSY): end it. */
        if (!sqlite3_get_autocommit(s->db)) be->ops->rollback(be);
        s->in_tx = 0;
        return SLIPSTREAM_ERROR;
    }
    s->in_tx = 0;
    return SLIPSTREAM_OK;
}

static void sqlite_rollback(hist_backend *be) {
    sqlite_backend *s = as_sqlite(be);
    /* SQLite may already have rolled back on its own after an error (autocommit again). */
    if (!sqlite3_get_autocommit(s->db)) {
        char msg[256];
        slipstream_error e = {msg, sizeof msg};
        msg[0] = '\0';
        if (run(s, ST_ROLLBACK, "ROLLBACK", &e) != SLIPSTREAM_OK && s->logger.log != NULL) {
            s->logger.log(s->logger.ctx, SLIPSTREAM_LOG_ERROR, msg);
        }
    }
    s->in_tx = 0;
}

static void sqlite_close(hist_backend *be) {
    sqlite_backend *s = as_sqlite(be);
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db); /* every statement is finalized, so this closes for real */
    free(s);
}

static const hist_backend_ops sqlite_ops = {
    .name = "sqlite",
    .put_update = sqlite_put_update,
    .put_mapping_removal = sqlite_put_mapping_removal,
    .put_reward = sqlite_put_reward,
    .put_block = sqlite_put_block,
    .put_position = sqlite_put_position,
    .get_position = sqlite_get_position,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .close = sqlite_close,
};

/* WAL lets readers (the history query) run while the plugin writes; synchronous=NORMAL is
   durable at each checkpoint and never corrupts: a commit lost to a power cut is simply
   replayed by the node (the plugin is idempotent). */
static int32_t configure(sqlite_backend *s, const char *path, slipstream_error *err) {
    /* First: a reader (a history query, a monitoring tool) may hold a lock right now, and
       switching to WAL or recovering the WAL of a crashed writer waits for it. */
    sqlite3_busy_timeout(s->db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    int wal = rc == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        return slipstream_error_set(err, "history: sqlite: cannot use %s (WAL mode refused): %s", path,
                                    sqlite3_errmsg(s->db));
    }
    char *msg = NULL;
    rc = sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL;" HIST_SQLITE_DDL, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        slipstream_error_set(err, "history: sqlite: cannot create the schema in %s: %s", path,
                             msg != NULL ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return SLIPSTREAM_ERROR;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL) != SQLITE_OK) {
            return slipstream_error_set(err, "history: sqlite: cannot prepare \"%s\": %s", stmt_sql[i],
                                        sqlite3_errmsg(s->db));
        }
    }
    return SLIPSTREAM_OK;
}

int32_t hist_sqlite_open(const char *path, hist_logger logger, hist_backend **out, slipstream_error *err) {
    *out = NULL;
    sqlite_backend *s = calloc(1, sizeof *s);
    if (s == NULL) return slipstream_error_set(err, "history: out of memory");
    s->base.ops = &sqlite_ops;
    s->logger = logger;
    /* NOMUTEX: the host never calls one instance concurrently, and nothing else uses it. */
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        slipstream_error_set(err, "history: sqlite: cannot open %s: %s", path,
                             s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite_close(&s->base);
        return SLIPSTREAM_ERROR;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if (configure(s, path, err) != SLIPSTREAM_OK) {
        sqlite_close(&s->base);
        return SLIPSTREAM_ERROR;
    }
    *out = &s->base;
    return SLIPSTREAM_OK;
}
