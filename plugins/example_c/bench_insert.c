/*
 * bench_insert.c — the storage engine's own limit for the history plugin's rows.
 *
 * Inserts N mapping_history rows of the plugin's shape (32-byte program id, 16-byte mapping
 * name, 32-byte key, 64-byte value, height and seq) into a fresh table, as fast as the engine
 * allows: SQLite with one prepared INSERT in WAL mode and large transactions; PostgreSQL
 * with COPY. The plugin's throughput (issue 8) is read against this figure.
 *
 *   bench_insert sqlite  FILE      N [ROWS_PER_TX]
 *   bench_insert postgres CONNINFO N [ROWS_PER_TX] [SCHEMA]
 *
 * Prints: engine=… rows=… seconds=… rows_per_sec=…
 */
#define _POSIX_C_SOURCE 200809L
#include "hist_schema.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef BENCH_WITH_POSTGRES
#include <libpq-fe.h>
#endif

#define ROWS_PER_BLOCK 1000 /* heights advance every this many rows; seq counts within */

typedef struct row {
    uint8_t program[32], mapping[16], key[32], value[64];
    uint32_t height, seq;
} row;

/* Row i: fixed program and mapping, a key and value derived from i. */
static void make_row(row *r, uint64_t i) {
    memset(r->program, 'p', sizeof r->program);
    memset(r->mapping, 'm', sizeof r->mapping);
    memset(r->key, 0, sizeof r->key);
    for (int b = 0; b < 8; b++) r->key[b] = (uint8_t)(i >> (8 * b));
    for (size_t b = 0; b < sizeof r->value; b++) r->value[b] = (uint8_t)(i * 31 + b);
    r->height = (uint32_t)(i / ROWS_PER_BLOCK);
    r->seq = (uint32_t)(i % ROWS_PER_BLOCK);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sqlite_fail(sqlite3 *db, const char *what) {
    fprintf(stderr, "bench_insert: sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    sqlite3_close(db);
    return 1;
}

static int bench_sqlite(const char *path, uint64_t n, uint64_t per_tx) {
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) return sqlite_fail(db, "open");
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; DROP TABLE IF EXISTS mapping_history;"
                         " DROP TABLE IF EXISTS mapping_removals; DROP TABLE IF EXISTS staking_rewards;"
                         " DROP TABLE IF EXISTS blocks;" HIST_SQLITE_DDL,
                     NULL, NULL, NULL) != SQLITE_OK) {
        return sqlite_fail(db, "schema");
    }
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO mapping_history (program_id, mapping_name, key, block_height, seq, value)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &ins, NULL) != SQLITE_OK) {
        return sqlite_fail(db, "prepare");
    }
    row r;
    double t0 = now();
    for (uint64_t i = 0; i < n; i++) {
        if (i % per_tx == 0 && sqlite3_exec(db, i == 0 ? "BEGIN" : "COMMIT; BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_finalize(ins);
            return sqlite_fail(db, "transaction");
        }
        make_row(&r, i);
        sqlite3_bind_blob(ins, 1, r.program, sizeof r.program, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, r.mapping, sizeof r.mapping, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, r.key, sizeof r.key, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, r.height);
        sqlite3_bind_int64(ins, 5, r.seq);
        sqlite3_bind_blob(ins, 6, r.value, sizeof r.value, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            sqlite3_finalize(ins);
            return sqlite_fail(db, "insert");
        }
        sqlite3_reset(ins);
    }
    if (n > 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_finalize(ins);
        return sqlite_fail(db, "commit");
    }
    double secs = now() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    printf("engine=sqlite rows=%llu seconds=%.3f rows_per_sec=%.0f\n", (unsigned long long)n, secs,
           secs > 0 ? (double)n / secs : 0.0);
    return 0;
}

#ifdef BENCH_WITH_POSTGRES
static int pg_ok(PGconn *c, PGresult *res, ExecStatusType want, const char *what) {
    int ok = PQresultStatus(res) == want;
    if (!ok) fprintf(stderr, "bench_insert: postgres: %s: %s", what, PQerrorMessage(c));
    PQclear(res);
    return ok;
}

/* COPY text format: bytea as \\x<hex>. */
static size_t put_hex(char *out, const uint8_t *b, size_t n) {
    static const char digits[] = "0123456789abcdef";
    size_t k = 0;
    out[k++] = '\\';
    out[k++] = '\\';
    out[k++] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[k++] = digits[b[i] >> 4];
        out[k++] = digits[b[i] & 15];
    }
    return k;
}

static int bench_pg(const char *conninfo, uint64_t n, uint64_t per_tx, const char *schema) {
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_insert: postgres: connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    char *ident = PQescapeIdentifier(c, schema, strlen(schema));
    char setup[512];
    snprintf(setup, sizeof setup,
             "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS %s; SET search_path TO %s;"
             " DROP TABLE IF EXISTS mapping_history, mapping_removals, staking_rewards, blocks;",
             ident, ident);
    PQfreemem(ident);
    int ok = pg_ok(c, PQexec(c, setup), PGRES_COMMAND_OK, "setup") &&
             pg_ok(c, PQexec(c, HIST_PG_DDL), PGRES_COMMAND_OK, "schema");
    row r;
    char line[512];
    double t0 = now();
    for (uint64_t i = 0; ok && i < n; i += per_tx) {
        uint64_t end = i + per_tx < n ? i + per_tx : n;
        ok = pg_ok(c, PQexec(c, "BEGIN"), PGRES_COMMAND_OK, "begin") &&
             pg_ok(c,
                   PQexec(c, "COPY mapping_history (program_id, mapping_name, key, block_height, seq, value)"
                             " FROM STDIN"),
                   PGRES_COPY_IN, "copy");
        for (uint64_t j = i; ok && j < end; j++) {
            make_row(&r, j);
            size_t k = put_hex(line, r.program, sizeof r.program);
            line[k++] = '\t';
            k += put_hex(line + k, r.mapping, sizeof r.mapping);
            line[k++] = '\t';
            k += put_hex(line + k, r.key, sizeof r.key);
            k += (size_t)snprintf(line + k, sizeof line - k, "\t%u\t%u\t", r.height, r.seq);
            k += put_hex(line + k, r.value, sizeof r.value);
            line[k++] = '\n';
            ok = PQputCopyData(c, line, (int)k) == 1;
        }
        ok = ok && PQputCopyEnd(c, NULL) == 1 && pg_ok(c, PQgetResult(c), PGRES_COMMAND_OK, "copy end");
        ok = ok && pg_ok(c, PQexec(c, "COMMIT"), PGRES_COMMAND_OK, "commit");
    }
    double secs = now() - t0;
    PQfinish(c);
    if (!ok) return 1;
    printf("engine=postgres rows=%llu seconds=%.3f rows_per_sec=%.0f\n", (unsigned long long)n, secs,
           secs > 0 ? (double)n / secs : 0.0);
    return 0;
}
#endif

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s sqlite FILE N [ROWS_PER_TX]\n       %s postgres CONNINFO N [ROWS_PER_TX] [SCHEMA]\n",
                argv[0], argv[0]);
        return 2;
    }
    uint64_t n = strtoull(argv[3], NULL, 10);
    uint64_t per_tx = argc > 4 ? strtoull(argv[4], NULL, 10) : 10000;
    if (per_tx == 0) per_tx = 1;
    if (strcmp(argv[1], "sqlite") == 0) return bench_sqlite(argv[2], n, per_tx);
#ifdef BENCH_WITH_POSTGRES
    if (strcmp(argv[1], "postgres") == 0) return bench_pg(argv[2], n, per_tx, argc > 5 ? argv[5] : "public");
#endif
    fprintf(stderr, "bench_insert: unknown or unsupported engine %s\n", argv[1]);
    return 2;
}
