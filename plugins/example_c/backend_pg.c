/*
 * backend_pg.c — the PostgreSQL backend of the history plugin (libpq).
 *
 * Rows are buffered in memory per table (copied: event bytes are borrowed) and written at
 * commit time inside BEGIN … COMMIT with prepared multi-row
 *     INSERT … VALUES (…),(…)… ON CONFLICT DO NOTHING
 * statements in binary format. Chunk sizes are powers of two up to PG_MAX_CHUNK, so at most
 * PG_CHUNK_LEVELS statements per table are ever prepared and any row count is covered.
 * A block with very many rows is flushed early (PG_FLUSH_ROWS) into the open transaction,
 * which bounds memory without splitting the commit unit.
 * (COPY would be faster still, but cannot skip rows already stored, which replays need.)
 */
#define SLIPSTREAM_ERROR_HELPER
#include "hist_backend.h"
#include "hist_schema.h"

#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_CHUNK_LEVELS 9                            /* chunks of 1, 2, 4 … 256 rows */
#define PG_MAX_CHUNK (1 << (PG_CHUNK_LEVELS - 1))
#define PG_MAX_COLS 6
#define PG_FLUSH_ROWS 4096
#define OID_BYTEA 17
#define OID_INT8 20

enum { T_HISTORY, T_REMOVALS, T_REWARDS, T_BLOCKS, T_COUNT };

typedef struct pg_cell {
    size_t off;  /* into the table's arena */
    int len;     /* -1: SQL NULL */
} pg_cell;

typedef struct pg_table {
    const char *name;
    const char *cols;
    int ncols;
    Oid types[PG_MAX_COLS];
    pg_cell *cells;
    size_t ncells, cap_cells;
    char *arena;
    size_t arena_len, arena_cap;
    unsigned char prepared[PG_CHUNK_LEVELS];
} pg_table;

typedef struct pg_backend {
    hist_backend base;
    hist_logger logger;
    PGconn *conn;
    char *search_path; /* the quoted schema identifier */
    pg_table tables[T_COUNT];
    size_t buffered_rows;
    int in_tx;
    /* scratch for one chunk's parameters */
    const char *values[PG_MAX_CHUNK * PG_MAX_COLS];
    int lengths[PG_MAX_CHUNK * PG_MAX_COLS];
    int formats[PG_MAX_CHUNK * PG_MAX_COLS];
    Oid types[PG_MAX_CHUNK * PG_MAX_COLS];
} pg_backend;

static const pg_table table_templates[T_COUNT] = {
    [T_HISTORY] = {"mapping_history", "program_id, mapping_name, key, block_height, seq, value", 6,
                   {OID_BYTEA, OID_BYTEA, OID_BYTEA, OID_INT8, OID_INT8, OID_BYTEA}, NULL, 0, 0, NULL, 0, 0, {0}},
    [T_REMOVALS] = {"mapping_removals", "program_id, mapping_name, block_height, seq", 4,
                    {OID_BYTEA, OID_BYTEA, OID_INT8, OID_INT8, 0, 0}, NULL, 0, 0, NULL, 0, 0, {0}},
    [T_REWARDS] = {"staking_rewards", "staker, validator, block_height, reward, new_stake", 5,
                   {OID_BYTEA, OID_BYTEA, OID_INT8, OID_INT8, OID_INT8, 0}, NULL, 0, 0, NULL, 0, 0, {0}},
    [T_BLOCKS] = {"blocks", "block_height, block", 2, {OID_INT8, OID_BYTEA, 0, 0, 0, 0}, NULL, 0, 0, NULL, 0, 0, {0}},
};

static pg_backend *as_pg(hist_backend *be) { return (pg_backend *)be; }

/* libpq messages end with a newline; error buffers should not. */
static int32_t pg_fail(slipstream_error *err, const char *what, const char *msg) {
    size_t n = msg != NULL ? strlen(msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) n--;
    return slipstream_error_set(err, "history: postgres: %s: %.*s", what, (int)n, msg != NULL ? msg : "");
}

/* Runs a command that returns no rows. */
static int32_t pg_exec(pg_backend *p, const char *sql, const char *what, slipstream_error *err) {
    PGresult *res = PQexec(p->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) pg_fail(err, what != NULL ? what : sql, PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
    PQclear(res);
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

/* ---- row buffers ---------------------------------------------------------------------- */

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap != 0 ? *cap : 64;
    while (n < need) n *= 2;
    void *b = realloc(*buf, n * elem);
    if (b == NULL) return -1;
    *buf = b;
    *cap = n;
    return 0;
}

static int cell_raw(pg_table *t, const void *data, size_t len, int is_null) {
    if (!is_null && len > (size_t)INT_MAX) return -1;
    if (grow((void **)&t->cells, &t->cap_cells, t->ncells + 1, sizeof *t->cells) != 0) return -1;
    if (!is_null && grow((void **)&t->arena, &t->arena_cap, t->arena_len + len, 1) != 0) return -1;
    pg_cell *c = &t->cells[t->ncells++];
    c->off = t->arena_len;
    c->len = is_null ? -1 : (int)len;
    if (!is_null && len > 0) {
        memcpy(t->arena + t->arena_len, data, len);
        t->arena_len += len;
    }
    return 0;
}

static int cell_bytes(pg_table *t, const slipstream_bytes *b) { return cell_raw(t, b->ptr, (size_t)b->len, 0); }

/* int8 in binary format is 8 bytes, big-endian. u64 amounts keep their bits (see README). */
static int cell_i64(pg_table *t, uint64_t v) {
    unsigned char be[8];
    for (int i = 7; i >= 0; i--, v >>= 8) be[i] = (unsigned char)(v & 0xFF);
    return cell_raw(t, be, sizeof be, 0);
}

static void table_clear(pg_table *t) {
    t->ncells = 0;
    t->arena_len = 0;
}

/* ---- prepared multi-row inserts ------------------------------------------------------- */

static void stmt_name(char *buf, size_t cap, const pg_table *t, int level) {
    snprintf(buf, cap, "hist_%s_%d", t->name, 1 << level);
}

static int32_t prepare_chunk(pg_backend *p, pg_table *t, int level, slipstream_error *err) {
    if (t->prepared[level]) return SLIPSTREAM_OK;
    int rows = 1 << level, nparams = rows * t->ncols;
    size_t cap = strlen(t->name) + strlen(t->cols) + (size_t)nparams * 8 + (size_t)rows * 4 + 96;
    char *sql = malloc(cap);
    if (sql == NULL) return slipstream_error_set(err, "history: out of memory");
    size_t n = (size_t)snprintf(sql, cap, "INSERT INTO %s (%s) VALUES ", t->name, t->cols);
    for (int r = 0, param = 1; r < rows; r++) {
        n += (size_t)snprintf(sql + n, cap - n, r == 0 ? "(" : ",(");
        for (int c = 0; c < t->ncols; c++, param++) {
            n += (size_t)snprintf(sql + n, cap - n, c == 0 ? "$%d" : ",$%d", param);
            p->types[param - 1] = t->types[c];
        }
        n += (size_t)snprintf(sql + n, cap - n, ")");
    }
    snprintf(sql + n, cap - n, " ON CONFLICT DO NOTHING");
    char name[64];
    stmt_name(name, sizeof name, t, level);
    PGresult *res = PQprepare(p->conn, name, sql, nparams, p->types);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) pg_fail(err, "prepare insert", PQresultErrorMessage(res));
    PQclear(res);
    free(sql);
    if (!ok) return SLIPSTREAM_ERROR;
    t->prepared[level] = 1;
    return SLIPSTREAM_OK;
}

static int32_t exec_chunk(pg_backend *p, pg_table *t, size_t first_row, int level, slipstream_error *err) {
    static const char empty[1] = {0}; /* a zero-length value must not be a NULL pointer (NULL is SQL NULL) */
    if (prepare_chunk(p, t, level, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    int nparams = (1 << level) * t->ncols;
    const pg_cell *cells = &t->cells[first_row * (size_t)t->ncols];
    for (int i = 0; i < nparams; i++) {
        p->values[i] = cells[i].len < 0 ? NULL : cells[i].len == 0 ? empty : t->arena + cells[i].off;
        p->lengths[i] = cells[i].len < 0 ? 0 : cells[i].len;
        p->formats[i] = 1;
    }
    char name[64];
    stmt_name(name, sizeof name, t, level);
    PGresult *res = PQexecPrepared(p->conn, name, nparams, p->values, p->lengths, p->formats, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, "insert into %s", t->name);
        pg_fail(err, what, PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
    }
    PQclear(res);
    return ok ? SLIPSTREAM_OK : SLIPSTREAM_ERROR;
}

static int32_t flush_table(pg_backend *p, pg_table *t, slipstream_error *err) {
    size_t rows = t->ncells / (size_t)t->ncols;
    for (size_t done = 0; done < rows;) {
        int level = PG_CHUNK_LEVELS - 1;
        while (((size_t)1 << level) > rows - done) level--;
        if (exec_chunk(p, t, done, level, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
        done += (size_t)1 << level;
    }
    table_clear(t);
    return SLIPSTREAM_OK;
}

static void clear_buffers(pg_backend *p) {
    for (int i = 0; i < T_COUNT; i++) table_clear(&p->tables[i]);
    p->buffered_rows = 0;
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
    if (!ok) pg_fail(err, "set search_path", PQresultErrorMessage(res));
    PQclear(res);
    if (!ok) return SLIPSTREAM_ERROR;
    for (int i = 0; i < T_COUNT; i++) memset(p->tables[i].prepared, 0, sizeof p->tables[i].prepared);
    return pg_exec(p, "SET client_min_messages = warning", NULL, err);
}

/* A connection lost between transactions is re-established (prepared statements too). */
static int32_t ensure_connected(pg_backend *p, slipstream_error *err) {
    if (PQstatus(p->conn) == CONNECTION_OK) return SLIPSTREAM_OK;
    if (p->in_tx) return pg_fail(err, "connection lost inside a transaction", PQerrorMessage(p->conn));
    if (p->logger.log != NULL) p->logger.log(p->logger.ctx, SLIPSTREAM_LOG_WARN, "history: postgres: reconnecting");
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) return pg_fail(err, "reconnect failed", PQerrorMessage(p->conn));
    return setup_session(p, err);
}

static int32_t ensure_tx(pg_backend *p, slipstream_error *err) {
    if (p->in_tx) return SLIPSTREAM_OK;
    if (ensure_connected(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    if (pg_exec(p, "BEGIN", NULL, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    p->in_tx = 1;
    return SLIPSTREAM_OK;
}

static int32_t flush_all(pg_backend *p, slipstream_error *err) {
    if (ensure_tx(p, err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    for (int i = 0; i < T_COUNT; i++) {
        if (flush_table(p, &p->tables[i], err) != SLIPSTREAM_OK) return SLIPSTREAM_ERROR;
    }
    p->buffered_rows = 0;
    return SLIPSTREAM_OK;
}

/* Called after a row was appended: bounds the memory a huge block can take. */
static int32_t row_added(pg_backend *p, slipstream_error *err) {
    if (++p->buffered_rows < PG_FLUSH_ROWS) return SLIPSTREAM_OK;
    return flush_all(p, err);
}

/* Undoes a partly appended row after an allocation failure. */
static int32_t row_oom(pg_table *t, size_t ncells_before, slipstream_error *err) {
    t->ncells = ncells_before;
    return slipstream_error_set(err, "history: postgres: out of memory buffering a %s row", t->name);
}

/* ---- backend ops ---------------------------------------------------------------------- */

static int32_t pg_put_update(hist_backend *be, const slipstream_bytes *program, const slipstream_bytes *mapping,
                             const slipstream_bytes *key, const slipstream_bytes *value, uint32_t height, uint32_t seq,
                             slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_HISTORY];
    size_t before = t->ncells;
    if (cell_bytes(t, program) || cell_bytes(t, mapping) || cell_bytes(t, key) || cell_i64(t, height) ||
        cell_i64(t, seq) || (value != NULL ? cell_bytes(t, value) : cell_raw(t, NULL, 0, 1))) {
        return row_oom(t, before, err);
    }
    return row_added(p, err);
}

static int32_t pg_put_mapping_removal(hist_backend *be, const slipstream_bytes *program,
                                      const slipstream_bytes *mapping, uint32_t height, uint32_t seq,
                                      slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_REMOVALS];
    size_t before = t->ncells;
    if (cell_bytes(t, program) || cell_bytes(t, mapping) || cell_i64(t, height) || cell_i64(t, seq)) {
        return row_oom(t, before, err);
    }
    return row_added(p, err);
}

static int32_t pg_put_reward(hist_backend *be, const slipstream_bytes *staker, const slipstream_bytes *validator,
                             uint32_t height, uint64_t reward, uint64_t new_stake, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_REWARDS];
    size_t before = t->ncells;
    if (cell_bytes(t, staker) || cell_bytes(t, validator) || cell_i64(t, height) || cell_i64(t, reward) ||
        cell_i64(t, new_stake)) {
        return row_oom(t, before, err);
    }
    return row_added(p, err);
}

static int32_t pg_put_block(hist_backend *be, const slipstream_bytes *block, uint32_t height, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    pg_table *t = &p->tables[T_BLOCKS];
    size_t before = t->ncells;
    if (cell_i64(t, height) || cell_bytes(t, block)) return row_oom(t, before, err);
    return row_added(p, err);
}

static void pg_rollback(hist_backend *be) {
    pg_backend *p = as_pg(be);
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

static int32_t pg_commit(hist_backend *be, slipstream_error *err) {
    pg_backend *p = as_pg(be);
    if (p->buffered_rows == 0 && !p->in_tx) return SLIPSTREAM_OK;
    if (flush_all(p, err) != SLIPSTREAM_OK || pg_exec(p, "COMMIT", NULL, err) != SLIPSTREAM_OK) {
        pg_rollback(be);
        return SLIPSTREAM_ERROR;
    }
    p->in_tx = 0;
    return SLIPSTREAM_OK;
}

static void pg_close(hist_backend *be) {
    pg_backend *p = as_pg(be);
    if (p->conn != NULL) PQfinish(p->conn); /* an open transaction is rolled back by the server */
    for (int i = 0; i < T_COUNT; i++) {
        free(p->tables[i].cells);
        free(p->tables[i].arena);
    }
    if (p->search_path != NULL) PQfreemem(p->search_path);
    free(p);
}

static const hist_backend_ops pg_ops = {
    .name = "postgres",
    .put_update = pg_put_update,
    .put_mapping_removal = pg_put_mapping_removal,
    .put_reward = pg_put_reward,
    .put_block = pg_put_block,
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
        pg_exec(p, HIST_PG_DDL, "create tables", err) != SLIPSTREAM_OK) {
        pg_close(&p->base);
        return SLIPSTREAM_ERROR;
    }
    *out = &p->base;
    return SLIPSTREAM_OK;
}
