/*
 * backend_pg.c — the PostgreSQL backend of the history plugin (libpq).
 *
 * Rows are buffered in memory per table, already encoded as binary COPY tuples (copied:
 * event bytes are borrowed). Every table has a session-local staging table
 *     CREATE TEMP TABLE pg_temp.slipstream_tmp_<t> (LIKE <schema>.<t>) ON COMMIT DELETE ROWS
 * created once per session (again after a reconnect). Inside BEGIN … COMMIT the buffered rows
 * go into the staging tables with COPY … FROM STDIN (FORMAT binary); at commit one prepared
 *     INSERT INTO <schema>.<t> (…) SELECT … FROM pg_temp.slipstream_tmp_<t> ON CONFLICT DO NOTHING
 * per table moves them into the real tables, skipping rows already stored (replays must be
 * idempotent, which a plain COPY into the real tables could not be). COMMIT then empties the
 * staging tables; a ROLLBACK discards their rows with the rest of the transaction.
 * A block with very many rows is copied early (PG_FLUSH_ROWS) into the staging tables of the
 * open transaction, which bounds client memory without splitting the commit unit.
 * While no conflict has been seen (direct), mapping_history's rows are streamed as they come
 * (every PG_STREAM_BYTES) into a COPY that stays open until the next flush: the server stores
 * them while the node finalizes the next blocks, instead of the two taking turns. The rows
 * stay buffered until the flush succeeded, so a conflict can still send them to staging.
 * The resume position (slipstream_position) is kept like a row: recorded by put_position,
 * upserted right before COMMIT in the same transaction, forgotten by a rollback.
 */
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"
#include "hist_schema.h"

#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_FLUSH_ROWS 4096
#define PG_COPY_PIECE (1 << 20) /* bytes handed to PQputCopyData at once */
#define PG_STREAM_BYTES (64 << 10) /* mapping_history bytes sent at once to the open COPY */
#define PG_STREAMED T_HISTORY      /* the table whose rows are streamed (most rows) */
#define PG_STAGING_PREFIX "slipstream_tmp_"

enum { T_HISTORY, T_REMOVALS, T_REWARDS, T_BLOCKS, T_COUNT };

typedef struct pg_table {
    const char *name;
    const char *cols;
    const char *key; /* the primary key: the merge inserts in its order */
    int16_t ncols;
    unsigned char *buf; /* binary COPY tuples, without the header and the trailer */
    size_t len, cap;
    size_t rows;        /* tuples in buf */
    size_t sent;        /* bytes of buf sent to the open COPY (non-zero only while streaming) */
    size_t staged;      /* rows copied into the staging table in this transaction */
} pg_table;

typedef struct pg_backend {
    hist_backend base;
    hist_logger logger;
    PGconn *conn;
    char *search_path; /* the quoted schema identifier */
    pg_table tables[T_COUNT];
    size_t buffered_rows;
    uint64_t position;  /* put_position's value, written at the next commit */
    int has_position;
    int in_tx;
    int direct;   /* flushes COPY straight into the real tables (no conflict seen lately) */
    int conflict; /* the last COPY failed on a unique violation */
    int streaming; /* a direct COPY into the streamed table is open, under SAVEPOINT hist_copy */
} pg_backend;

static const pg_table table_templates[T_COUNT] = {
    [T_HISTORY] = {"mapping_history", "program_id, mapping_name, key, block_height, seq, value",
                   "program_id, mapping_name, key, block_height, seq", 6, NULL, 0, 0, 0, 0, 0},
    [T_REMOVALS] = {"mapping_removals", "program_id, mapping_name, block_height, seq",
                    "program_id, mapping_name, block_height, seq", 4, NULL, 0, 0, 0, 0, 0},
    [T_REWARDS] = {"staking_rewards", "staker, validator, block_height, reward, new_stake",
                   "staker, block_height", 5, NULL, 0, 0, 0, 0, 0},
    [T_BLOCKS] = {"blocks", "block_height, block", "block_height", 2, NULL, 0, 0, 0, 0, 0},
};

/* Binary COPY: signature, flags (int32 0), header extension length (int32 0); trailer int16 -1. */
static const unsigned char copy_header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xFF, '\r', '\n', 0};
static const unsigned char copy_trailer[2] = {0xFF, 0xFF};

static pg_backend *as_pg(hist_backend *be) { return (pg_backend *)be; }

/* libpq messages end with a newline; error buffers should not. */
static int32_t pg_fail(slipstream_error *err, const char *what, const char *msg) {
    size_t n = msg != NULL ? strlen(msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) n--;
    return slipstream_error_set(err, "history: postgres: %s: %.*s", what, (int)n, msg != NULL ? msg : "");
}

/* The result's message, or the connection's when the result has none (e.g. connection lost). */
static const char *result_error(const pg_backend *p, const PGresult *res) {
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    return msg[0] != '\0' ? msg : PQerrorMessage(p->conn);
}

/* Runs a command that returns no rows. */
static int32_t pg_exec(pg_backend *p, const char *sql, const char *what, slipstream_error *err) {
    PGresult *res = PQexec(p->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) pg_fail(err, what != NULL ? what : sql, result_error(p, res));
    PQclear(res);
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

/* ---- row buffers (binary COPY tuples) ------------------------------------------------- */

static int reserve(pg_table *t, size_t more) {
    if (more > SIZE_MAX - t->len) return -1;
    size_t need = t->len + more;
    if (need <= t->cap) return 0;
    size_t n = t->cap != 0 ? t->cap : 4096;
    while (n < need) {
        if (n > SIZE_MAX / 2) return -1;
        n *= 2;
    }
    unsigned char *b = realloc(t->buf, n);
    if (b == NULL) return -1;
    t->buf = b;
    t->cap = n;
    return 0;
}

/* Network byte order (big-endian), as binary COPY wants. */
static void put_be(pg_table *t, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--, v >>= 8) t->buf[t->len + (size_t)i] = (unsigned char)(v & 0xFF);
    t->len += (size_t)bytes;
}

/* Starts a tuple: its field count. */
static int row_begin(pg_table *t) {
    if (reserve(t, 2) != 0) return -1;
    put_be(t, (uint16_t)t->ncols, 2);
    return 0;
}

static int cell_null(pg_table *t) {
    if (reserve(t, 4) != 0) return -1;
    put_be(t, UINT32_MAX, 4); /* length -1: SQL NULL */
    return 0;
}

static int cell_bytes(pg_table *t, const slipstream_bytes *b) {
    if (b->len > (uint64_t)INT32_MAX || reserve(t, 4 + (size_t)b->len) != 0) return -1;
    put_be(t, b->len, 4);
    if (b->len > 0) memcpy(t->buf + t->len, b->ptr, (size_t)b->len);
    t->len += (size_t)b->len;
    return 0;
}

/* int8: 8 bytes, big-endian. u64 amounts keep their bits (see README). */
static int cell_i64(pg_table *t, uint64_t v) {
    if (reserve(t, 12) != 0) return -1;
    put_be(t, 8, 4);
    put_be(t, v, 8);
    return 0;
}

static void table_clear(pg_table *t) {
    t->len = 0;
    t->rows = 0;
    t->sent = 0;
}

static void clear_buffers(pg_backend *p) {
    for (int i = 0; i < T_COUNT; i++) {
        table_clear(&p->tables[i]);
        p->tables[i].staged = 0;
    }
    p->buffered_rows = 0;
    p->has_position = 0;
}

/* ---- COPY into the staging tables, merge into the real ones --------------------------- */

static void merge_stmt_name(char *buf, size_t cap, const pg_table *t) { snprintf(buf, cap, "hist_merge_%s", t->name); }

/* Ends the COPY in progress (aborting it when !ok) and collects its result. On failure, *err
   gets the first cause unless it already holds one (ok == 0). */
static int32_t copy_finish(pg_backend *p, int ok, const char *what, slipstream_error *err) {
    if (PQputCopyEnd(p->conn, ok ? NULL : "history: copy aborted") != 1 && ok) {
        pg_fail(err, what, PQerrorMessage(p->conn));
        ok = 0;
    }
    PGresult *res;
    while ((res = PQgetResult(p->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && ok) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            p->conflict = state != NULL && strcmp(state, "23505") == 0; /* unique_violation */
            pg_fail(err, what, result_error(p, res));
            ok = 0;
        }
        PQclear(res);
        /* Still in COPY (the end could not be sent) or the connection is gone: stop waiting. */
        if (st == PGRES_COPY_IN || PQstatus(p->conn) == CONNECTION_BAD) break;
    }
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

static int copy_put(pg_backend *p, const void *data, size_t len) {
    const char *d = data;
    while (len > 0) {
        int n = len > PG_COPY_PIECE ? PG_COPY_PIECE : (int)len;
        if (PQputCopyData(p->conn, d, n) != 1) return -1;
        d += n;
        len -= (size_t)n;
    }
    return 0;
}

static void copy_what(char *buf, size_t cap, const pg_table *t, int direct) {
    snprintf(buf, cap, "copy into %s%s", direct ? "" : PG_STAGING_PREFIX, t->name);
}

/* Starts a COPY into the real table (direct) or its staging table, header sent. */
static int32_t copy_begin(pg_backend *p, pg_table *t, int direct, slipstream_error *err) {
    char what[96], *sql = malloc(strlen(p->search_path) + 256);
    if (sql == NULL) return slipstream_error_set(err, "history: out of memory");
    copy_what(what, sizeof what, t, direct);
    if (direct) {
        sprintf(sql, "COPY %s.%s (%s) FROM STDIN (FORMAT binary)", p->search_path, t->name, t->cols);
    } else {
        sprintf(sql, "COPY pg_temp." PG_STAGING_PREFIX "%s (%s) FROM STDIN (FORMAT binary)", t->name, t->cols);
    }
    PGresult *res = PQexec(p->conn, sql);
    free(sql);
    p->conflict = 0;
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok) pg_fail(err, what, result_error(p, res));
    PQclear(res);
    if (!ok) return SLIPSTREAM_ERROR;
    if (copy_put(p, copy_header, sizeof copy_header) != 0) {
        pg_fail(err, what, PQerrorMessage(p->conn));
        return copy_finish(p, 0, what, err);
    }
    return SLIPSTREAM_OK;
}

/* Sends the rows of t not sent yet, the trailer, and ends the COPY begun for t. */
static int32_t copy_end(pg_backend *p, pg_table *t, int direct, slipstream_error *err) {
    char what[96];
    copy_what(what, sizeof what, t, direct);
    int ok = copy_put(p, t->buf + t->sent, t->len - t->sent) == 0 &&
             copy_put(p, copy_trailer, sizeof copy_trailer) == 0;
    if (!ok) pg_fail(err, what, PQerrorMessage(p->conn));
    t->sent = 0;
    if (copy_finish(p, ok, what, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (!direct) t->staged += t->rows;
    return SLIPSTREAM_OK;
}

/* Copies a table's buffered rows (kept until the whole flush succeeded) into the real table
   (direct) or into its staging table, inside the open transaction; the streamed table's open
   COPY gets the rest of its rows. */
static int32_t copy_table(pg_backend *p, pg_table *t, int direct, slipstream_error *err) {
    if (direct && p->streaming && t == &p->tables[PG_STREAMED]) {
        p->streaming = 0;
        return copy_end(p, t, 1, err);
    }
    if (t->rows == 0) return SLIPSTREAM_OK;
    if (copy_begin(p, t, direct, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    return copy_end(p, t, direct, err);
}

/* Ends an open stream without storing it (before a rollback). */
static void stream_abort(pg_backend *p) {
    if (!p->streaming) return;
    p->streaming = 0;
    p->tables[PG_STREAMED].sent = 0;
    char msg[256];
    slipstream_error e = {msg, sizeof msg};
    (void)copy_finish(p, 0, "copy aborted", &e);
}

/* Moves a table's staged rows into the real table, skipping those already stored; *all_new
   is cleared when some were. */
static int32_t merge_table(pg_backend *p, pg_table *t, int *all_new, slipstream_error *err) {
    if (t->staged == 0) return SLIPSTREAM_OK;
    char name[64];
    merge_stmt_name(name, sizeof name, t);
    PGresult *res = PQexecPrepared(p->conn, name, 0, NULL, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, "insert into %s", t->name);
        pg_fail(err, what, result_error(p, res));
    } else if (strtoull(PQcmdTuples(res), NULL, 10) != t->staged) {
        *all_new = 0;
    }
    PQclear(res);
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

/* ---- connection ----------------------------------------------------------------------- */

static void notice_to_log(void *arg, const char *message) {
    pg_backend *p = arg;
    if (p->logger.log == NULL) return;
    char line[512];
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n') n--;
    snprintf(line, sizeof line, "history: postgres: %.*s", (int)n, message);
    p->logger.log(p->logger.ctx, SLIPSTREAM_LOG_DEBUG, line);
}

/* Session settings, repeated after a reconnect (they do not survive one). */
static int32_t setup_session(pg_backend *p, slipstream_error *err) {
    const char *params[1] = {p->search_path};
    PGresult *res = PQexecParams(p->conn, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL,
                                 params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) pg_fail(err, "set search_path", result_error(p, res));
    PQclear(res);
    if (!ok) return SLIPSTREAM_ERROR;
    return pg_exec(p, "SET client_min_messages = warning", NULL, err);
}

/* The staging tables and the merge statements: per session, after the real tables exist. */
static int32_t setup_staging(pg_backend *p, slipstream_error *err) {
    size_t cap = 2 * strlen(p->search_path) + 512;
    char *sql = malloc(cap);
    if (sql == NULL) return slipstream_error_set(err, "history: out of memory");
    int32_t rc = SLIPSTREAM_OK;
    for (int i = 0; i < T_COUNT && rc == SLIPSTREAM_OK; i++) {
        const pg_table *t = &p->tables[i];
        char what[96], name[64];
        snprintf(what, sizeof what, "create temp table " PG_STAGING_PREFIX "%s", t->name);
        snprintf(sql, cap,
                 "CREATE TEMP TABLE IF NOT EXISTS pg_temp." PG_STAGING_PREFIX "%s (LIKE %s.%s) ON COMMIT DELETE ROWS",
                 t->name, p->search_path, t->name);
        if ((rc = pg_exec(p, sql, what, err)) != SLIPSTREAM_OK) break;
        snprintf(sql, cap,
                 "INSERT INTO %s.%s (%s) SELECT %s FROM pg_temp." PG_STAGING_PREFIX "%s ORDER BY %s ON CONFLICT DO NOTHING",
                 p->search_path, t->name, t->cols, t->cols, t->name, t->key);
        merge_stmt_name(name, sizeof name, t);
        PGresult *res = PQprepare(p->conn, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(what, sizeof what, "prepare insert into %s", t->name);
            rc = pg_fail(err, what, result_error(p, res));
        }
        PQclear(res);
    }
    free(sql);
    return rc;
}

/* A connection lost between transactions is re-established (staging tables and prepared
   statements too). */
static int32_t ensure_connected(pg_backend *p, slipstream_error *err) {
    if (PQstatus(p->conn) == CONNECTION_OK) return SLIPSTREAM_OK;
    if (p->in_tx) return pg_fail(err, "connection lost inside a transaction", PQerrorMessage(p->conn));
    if (p->logger.log != NULL) p->logger.log(p->logger.ctx, SLIPSTREAM_LOG_WARN, "history: postgres: reconnecting");
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) return pg_fail(err, "reconnect failed", PQerrorMessage(p->conn));
    if (setup_session(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    return setup_staging(p, err);
}

static int32_t ensure_tx(pg_backend *p, slipstream_error *err) {
    if (p->in_tx) return SLIPSTREAM_OK;
    if (ensure_connected(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (pg_exec(p, "BEGIN", NULL, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    p->in_tx = 1;
    return SLIPSTREAM_OK;
}

/* Writes every buffered row in the open transaction. Optimistically with COPY straight into
   the real tables, under a savepoint: new rows (the common case) then cost no conflict
   checks. A unique violation (rows already stored: a replay) rolls back to the savepoint and
   switches to the staging tables, merged at commit with ON CONFLICT DO NOTHING, until a
   commit finds only new rows again. */
static int32_t flush_all(pg_backend *p, slipstream_error *err) {
    if (ensure_tx(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (p->buffered_rows == 0) return SLIPSTREAM_OK;
    if (p->direct) {
        if (!p->streaming && pg_exec(p, "SAVEPOINT hist_copy", NULL, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
        int i = 0;
        /* the streamed table comes first: when any copy fails, its stream is already ended */
        _Static_assert(PG_STREAMED == 0, "flush_all copies the streamed table first");
        while (i < T_COUNT && copy_table(p, &p->tables[i], 1, err) == SLIPSTREAM_OK) i++;
        if (i == T_COUNT) {
            if (pg_exec(p, "RELEASE SAVEPOINT hist_copy", NULL, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
        } else if (!p->conflict || pg_exec(p, "ROLLBACK TO SAVEPOINT hist_copy", NULL, err) != SLIPSTREAM_OK) {
            return SLIPSTREAM_ERROR;
        } else {
            p->direct = 0;
            if (p->logger.log != NULL) {
                p->logger.log(p->logger.ctx, SLIPSTREAM_LOG_DEBUG,
                              "history: postgres: rows already stored, merging with ON CONFLICT DO NOTHING");
            }
        }
    }
    if (!p->direct) {
        for (int i = 0; i < T_COUNT; i++) {
            if (copy_table(p, &p->tables[i], 0, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
        }
    }
    for (int i = 0; i < T_COUNT; i++) table_clear(&p->tables[i]);
    p->buffered_rows = 0;
    return SLIPSTREAM_OK;
}

/* Sends the streamed table's new rows to its open COPY, opening it (under the savepoint of
   the flush it belongs to) when needed. */
static int32_t stream_rows(pg_backend *p, pg_table *t, slipstream_error *err) {
    if (!p->streaming) {
        if (ensure_tx(p, err) != SLIPSTREAM_OK || pg_exec(p, "SAVEPOINT hist_copy", NULL, err) != SLIPSTREAM_OK ||
            copy_begin(p, t, 1, err) != SLIPSTREAM_OK) {
            return SLIPSTREAM_ERROR;
        }
        p->streaming = 1;
    }
    if (copy_put(p, t->buf + t->sent, t->len - t->sent) != 0) {
        char what[96];
        copy_what(what, sizeof what, t, 1);
        return pg_fail(err, what, PQerrorMessage(p->conn));
    }
    t->sent = t->len;
    return SLIPSTREAM_OK;
}

/* Called after a row was appended: bounds the memory a huge block can take, and streams. */
static int32_t row_added(pg_table *t, pg_backend *p, slipstream_error *err) {
    t->rows++;
    if (++p->buffered_rows >= PG_FLUSH_ROWS) return flush_all(p, err);
    if (p->direct && t == &p->tables[PG_STREAMED] && t->len - t->sent >= PG_STREAM_BYTES) return stream_rows(p, t, err);
    return SLIPSTREAM_OK;
}

/* Undoes a partly appended row after an allocation failure (or an oversized value). */
static int32_t row_oom(pg_table *t, size_t len_before, slipstream_error *err) {
    t->len = len_before;
    return slipstream_error_set(err, "history: postgres: out of memory buffering a %s row", t->name);
}

/* ---- backend ops ---------------------------------------------------------------------- */

static int32_t pg_put_update(hist_backend *be, const slipstream_bytes *program, const slipstream_bytes *mapping,
                             const slipstream_bytes *key, const slipstream_bytes *value, uint32_t height, uint32_t seq,
                             slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_HISTORY];
    size_t before = t->len;
    if (row_begin(t) || cell_bytes(t, program) || cell_bytes(t, mapping) || cell_bytes(t, key) ||
        cell_i64(t, height) || cell_i64(t, seq) || (value != NULL ? cell_bytes(t, value) : cell_null(t))) {
        return row_oom(t, before, err);
    }
    return row_added(t, p, err);
}

static int32_t pg_put_mapping_removal(hist_backend *be, const slipstream_bytes *program,
                                      const slipstream_bytes *mapping, uint32_t height, uint32_t seq,
                                      slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_REMOVALS];
    size_t before = t->len;
    if (row_begin(t) || cell_bytes(t, program) || cell_bytes(t, mapping) || cell_i64(t, height) ||
        cell_i64(t, seq)) {
        return row_oom(t, before, err);
    }
    return row_added(t, p, err);
}

static int32_t pg_put_reward(hist_backend *be, const slipstream_bytes *staker, const slipstream_bytes *validator,
                             uint32_t height, uint64_t reward, uint64_t new_stake, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_REWARDS];
    size_t before = t->len;
    if (row_begin(t) || cell_bytes(t, staker) || cell_bytes(t, validator) || cell_i64(t, height) ||
        cell_i64(t, reward) || cell_i64(t, new_stake)) {
        return row_oom(t, before, err);
    }
    return row_added(t, p, err);
}

static int32_t pg_put_block(hist_backend *be, const slipstream_bytes *block, uint32_t height, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_BLOCKS];
    size_t before = t->len;
    if (row_begin(t) || cell_i64(t, height) || cell_bytes(t, block)) return row_oom(t, before, err);
    return row_added(t, p, err);
}

static void pg_rollback(hist_backend *be) {
    pg_backend *p = as_pg(be);
    stream_abort(p);
    clear_buffers(p);
    if (p->in_tx && PQstatus(p->conn) == CONNECTION_OK) {
        char msg[256];
        slipstream_error e = {msg, sizeof msg};
        msg[0] = '\0';
        if (pg_exec(p, "ROLLBACK", NULL, &e) != SLIPSTREAM_OK && p->logger.log != NULL) {
            p->logger.log(p->logger.ctx, SLIPSTREAM_LOG_ERROR, msg);
        }
    }
    p->in_tx = 0;
}

static int32_t pg_put_position(hist_backend *be, uint64_t next_height, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    if (next_height > (uint64_t)INT64_MAX) {
        return slipstream_error_set(err, "history: postgres: position %llu out of range", (unsigned long long)next_height);
    }
    if (!p->has_position || next_height > p->position) p->position = next_height;
    p->has_position = 1;
    return SLIPSTREAM_OK;
}

/* Upserts the recorded position inside the open transaction (never lowering the stored one). */
static int32_t write_position(pg_backend *p, slipstream_error *err) {
    if (!p->has_position) return SLIPSTREAM_OK;
    char height[24], *sql = malloc(2 * strlen(p->search_path) + 256);
    if (sql == NULL) return slipstream_error_set(err, "history: out of memory");
    snprintf(height, sizeof height, "%llu", (unsigned long long)p->position);
    sprintf(sql,
            "INSERT INTO %s.slipstream_position AS p (plugin, next_height) VALUES ('" HIST_POSITION_KEY "', $1)"
            " ON CONFLICT (plugin) DO UPDATE SET next_height = GREATEST(p.next_height, EXCLUDED.next_height)",
            p->search_path);
    const char *params[1] = {height};
    PGresult *res = PQexecParams(p->conn, sql, 1, NULL, params, NULL, NULL, 0);
    free(sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) pg_fail(err, "update slipstream_position", result_error(p, res));
    PQclear(res);
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

static int32_t pg_get_position(hist_backend *be, uint64_t *next_height, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    *next_height = 0;
    if (p->in_tx) return slipstream_error_set(err, "history: postgres: position read inside a transaction");
    if (ensure_connected(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    char *sql = malloc(strlen(p->search_path) + 128);
    if (sql == NULL) return slipstream_error_set(err, "history: out of memory");
    sprintf(sql, "SELECT next_height FROM %s.slipstream_position WHERE plugin = '" HIST_POSITION_KEY "'",
            p->search_path);
    PGresult *res = PQexec(p->conn, sql);
    free(sql);
    int32_t rc = SLIPSTREAM_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_fail(err, "read slipstream_position", result_error(p, res));
    } else if (PQntuples(res) == 1) {
        const char *v = PQgetvalue(res, 0, 0);
        char *end = NULL;
        unsigned long long h = strtoull(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end != '\0') {
            rc = slipstream_error_set(err, "history: postgres: slipstream_position holds \"%s\"", v);
        } else {
            *next_height = (uint64_t)h;
        }
    }
    PQclear(res);
    return rc;
}

static int32_t pg_commit(hist_backend *be, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    if (p->buffered_rows == 0 && !p->in_tx && !p->has_position) return SLIPSTREAM_OK;
    int32_t rc = flush_all(p, err);
    int all_new = 1;
    for (int i = 0; i < T_COUNT && rc == SLIPSTREAM_OK; i++) rc = merge_table(p, &p->tables[i], &all_new, err);
    if (rc == SLIPSTREAM_OK) rc = write_position(p, err);
    if (rc != SLIPSTREAM_OK || pg_exec(p, "COMMIT", NULL, err) != SLIPSTREAM_OK) {
        pg_rollback(be);
        return SLIPSTREAM_ERROR;
    }
    for (int i = 0; i < T_COUNT; i++) p->tables[i].staged = 0; /* COMMIT emptied the staging tables */
    if (all_new) p->direct = 1;
    p->has_position = 0;
    p->in_tx = 0;
    return SLIPSTREAM_OK;
}

static void pg_close(hist_backend *be) {
    pg_backend *p = as_pg(be);
    if (p->conn != NULL) PQfinish(p->conn); /* an open transaction is rolled back by the server */
    for (int i = 0; i < T_COUNT; i++) free(p->tables[i].buf);
    if (p->search_path != NULL) PQfreemem(p->search_path);
    free(p);
}

static const hist_backend_ops pg_ops = {
    .name = "postgres",
    .put_update = pg_put_update,
    .put_mapping_removal = pg_put_mapping_removal,
    .put_reward = pg_put_reward,
    .put_block = pg_put_block,
    .put_position = pg_put_position,
    .get_position = pg_get_position,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .close = pg_close,
};

/* Creates the schema only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE
   privilege on the database even when the schema exists. */
static int32_t create_schema(pg_backend *p, const char *schema, slipstream_error *err) {
    const char *params[1] = {schema};
    PGresult *res = PQexecParams(p->conn, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, NULL, params,
                                 NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail(err, "look up schema", PQresultErrorMessage(res));
        PQclear(res);
        return SLIPSTREAM_ERROR;
    }
    int exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists) return SLIPSTREAM_OK;
    char sql[512];
    if (strlen(p->search_path) > sizeof sql - 64) return slipstream_error_set(err, "history: schema name too long");
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", p->search_path);
    return pg_exec(p, sql, "create schema", err);
}

int32_t hist_pg_open(const char *conninfo, const char *schema, hist_logger logger, hist_backend **out,
                     slipstream_error *err) {
    *out = NULL;
    pg_backend *p = calloc(1, sizeof *p);
    if (p == NULL) return slipstream_error_set(err, "history: out of memory");
    p->base.ops = &pg_ops;
    p->logger = logger;
    p->direct = 1;
    memcpy(p->tables, table_templates, sizeof p->tables);
    p->conn = PQconnectdb(conninfo);
    if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) {
        pg_fail(err, "cannot connect", p->conn != NULL ? PQerrorMessage(p->conn) : "out of memory");
        pg_close(&p->base);
        return SLIPSTREAM_ERROR;
    }
    PQsetNoticeProcessor(p->conn, notice_to_log, p);
    p->search_path = PQescapeIdentifier(p->conn, schema, strlen(schema));
    if (p->search_path == NULL) {
        pg_fail(err, "invalid schema name", PQerrorMessage(p->conn));
        pg_close(&p->base);
        return SLIPSTREAM_ERROR;
    }
    if (create_schema(p, schema, err) != SLIPSTREAM_OK || setup_session(p, err) != SLIPSTREAM_OK ||
        pg_exec(p, HIST_PG_DDL, "create tables", err) != SLIPSTREAM_OK || setup_staging(p, err) != SLIPSTREAM_OK) {
        pg_close(&p->base);
        return SLIPSTREAM_ERROR;
    }
    *out = &p->base;
    return SLIPSTREAM_OK;
}
