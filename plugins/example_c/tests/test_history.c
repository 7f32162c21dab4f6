/*
 * test_history.c — drives the built history plugin through a fake host and checks what it
 * stored with SQLite. Usage: test_history PATH/TO/libslipstream_history.so
 *
 * Every test uses its own database file in a fresh temporary directory. The resume-position
 * tests also run against PostgreSQL when TEST_HISTORY_PG holds a libpq conninfo (each test in
 * its own schema); tests/with_private_pg.sh starts a private server for that.
 * Prints "N passed, N failed" and exits non-zero on any failure.
 */
#include <dlfcn.h>
#include <slipstream.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The history query of README.md, SQLite dialect. */
static const char *const HISTORY_QUERY =
    "SELECT value IS NOT NULL AS present, value FROM ("
    " SELECT block_height, seq, value FROM ("
    "  SELECT block_height, seq, value FROM mapping_history"
    "  WHERE program_id = ?1 AND mapping_name = ?2 AND key = ?3 AND block_height <= ?4"
    "  ORDER BY block_height DESC, seq DESC LIMIT 1)"
    " UNION ALL"
    " SELECT block_height, seq, NULL FROM ("
    "  SELECT block_height, seq FROM mapping_removals"
    "  WHERE program_id = ?1 AND mapping_name = ?2 AND block_height <= ?4"
    "  ORDER BY block_height DESC, seq DESC LIMIT 1)"
    ") ORDER BY block_height DESC, seq DESC LIMIT 1";

static int checks, failures;
static const char *current_test = "";

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        checks++;                                                                        \
        if (!(cond)) {                                                                   \
            failures++;                                                                  \
            fprintf(stderr, "FAIL %s (%s:%d): %s\n", current_test, __FILE__, __LINE__, #cond); \
        }                                                                                \
    } while (0)

/* ---- the plugin library ----------------------------------------------------------------- */

static void *lib;
static uint32_t (*abi_version)(void);
static slipstream_plugin *(*create_plugin)(void);

/* ---- a fake host: a tiny config table and a log that remembers the last error -------- */

typedef struct fake_host {
    const char *keys[8];
    const char *values[8];
    int errors_logged;
    char last_log[1024];
} fake_host;

static void host_log(void *ctx, int32_t level, const char *msg) {
    fake_host *fh = ctx;
    if (level >= SLIPSTREAM_LOG_ERROR) fh->errors_logged++;
    snprintf(fh->last_log, sizeof fh->last_log, "%s", msg);
    if (getenv("TEST_HISTORY_VERBOSE") != NULL) fprintf(stderr, "  [log %d] %s\n", (int)level, msg);
}

static int64_t host_config_get(void *ctx, const char *key, char *buf, uint64_t cap) {
    fake_host *fh = ctx;
    for (int i = 0; i < 8 && fh->keys[i] != NULL; i++) {
        if (strcmp(fh->keys[i], key) != 0) continue;
        size_t len = strlen(fh->values[i]);
        if (cap > 0) {
            size_t n = len < cap - 1 ? len : (size_t)cap - 1;
            memcpy(buf, fh->values[i], n);
            buf[n] = '\0';
        }
        return (int64_t)len;
    }
    return -1;
}

typedef struct instance {
    fake_host fh;
    slipstream_host host;
    slipstream_plugin *p;
    char err[512];
} instance;

static char workdir[256];

static void path_in_workdir(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", workdir, name); }

/* Creates an instance and calls on_load with key/value pairs (NULL-terminated list). */
static int32_t load(instance *in, ...) {
    memset(in, 0, sizeof *in);
    va_list ap;
    va_start(ap, in);
    for (int i = 0; i < 7; i++) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL) break;
        in->fh.keys[i] = k;
        in->fh.values[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    in->host.struct_size = sizeof in->host;
    in->host.ctx = &in->fh;
    in->host.log = host_log;
    in->host.config_get = host_config_get;
    in->p = create_plugin();
    if (in->p == NULL) return SLIPSTREAM_ERROR;
    char config_file[512];
    path_in_workdir(config_file, sizeof config_file, "history.json5");
    slipstream_load_args args;
    memset(&args, 0, sizeof args);
    args.struct_size = sizeof args;
    args.config_file = config_file;
    args.config_json = "{}";
    args.host = &in->host;
    slipstream_error e = {in->err, sizeof in->err};
    int32_t rc = in->p->vtable->on_load(in->p, &args, &e);
    if (rc != SLIPSTREAM_OK) {
        in->p->vtable->destroy(in->p); /* as the host does after a failed on_load */
        in->p = NULL;
    }
    return rc;
}

static void unload(instance *in) {
    in->p->vtable->on_unload(in->p);
    in->p->vtable->destroy(in->p);
    in->p = NULL;
}

static int32_t send(instance *in, const slipstream_event *ev) {
    slipstream_error e = {in->err, sizeof in->err};
    in->err[0] = '\0';
    return in->p->vtable->on_broadcast(in->p, ev, &e);
}

static int32_t send_batch(instance *in, const slipstream_event *evs, size_t n) {
    slipstream_error e = {in->err, sizeof in->err};
    in->err[0] = '\0';
    return in->p->vtable->on_broadcast_batch(in->p, evs, (uint64_t)n, &e);
}

/* ---- events ----------------------------------------------------------------------------- */

static slipstream_bytes B(const char *s) {
    slipstream_bytes b = {(const uint8_t *)s, strlen(s)};
    if (b.len == 0) b.ptr = NULL;
    return b;
}

/* A zeroed event of kind at height h; the constructors below fill in its payload. */
static slipstream_event event(uint32_t kind, uint32_t h) {
    slipstream_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.block_height = h;
    return e;
}

static slipstream_event update(uint32_t h, const char *key, const char *value) {
    slipstream_event e = event(SLIPSTREAM_EVENT_MAPPING_UPDATE, h);
    e.mapping_update.program_id = B("credits.aleo");
    e.mapping_update.mapping_name = B("account");
    e.mapping_update.key = B(key);
    e.mapping_update.value = B(value);
    return e;
}

static slipstream_event remove_key(uint32_t h, const char *key) {
    slipstream_event e = event(SLIPSTREAM_EVENT_MAPPING_REMOVAL, h);
    e.mapping_removal.program_id = B("credits.aleo");
    e.mapping_removal.mapping_name = B("account");
    e.mapping_removal.key = B(key);
    e.mapping_removal.has_key = 1;
    return e;
}

static slipstream_event remove_mapping(uint32_t h) {
    slipstream_event e = remove_key(h, "");
    e.mapping_removal.has_key = 0;
    return e;
}

static slipstream_event reward(uint32_t h, const char *staker, uint64_t amount, uint64_t stake) {
    slipstream_event e = event(SLIPSTREAM_EVENT_STAKING_REWARD, h);
    e.staking_reward.staker = B(staker);
    e.staking_reward.validator = B("validator-1");
    e.staking_reward.reward = amount;
    e.staking_reward.new_stake = stake;
    return e;
}

static slipstream_event block(uint32_t h, const char *bytes) {
    slipstream_event e = event(SLIPSTREAM_EVENT_BLOCK, h);
    e.block.block = B(bytes);
    return e;
}

#define BIG_REWARD ((UINT64_C(1) << 63) + 7) /* does not fit a signed BIGINT: stored by its bits */

/* Three blocks covering every kind, two writes of one key in one block, a key removal, an
   empty value, a whole-mapping removal followed by a re-insert in the same block. */
static size_t chain(slipstream_event *ev) {
    size_t n = 0;
    ev[n++] = update(1, "k1", "v0");
    ev[n++] = update(1, "k1", "v1");
    ev[n++] = update(1, "k2", "v2");
    ev[n++] = update(1, "k3", "v3");
    ev[n++] = update(1, "k4", "");
    ev[n++] = block(1, "block-1");
    ev[n++] = update(2, "k1", "v1b");
    ev[n++] = remove_key(2, "k2");
    ev[n++] = reward(2, "staker-a", 5, 105);
    ev[n++] = reward(2, "staker-b", BIG_REWARD, UINT64_MAX);
    ev[n++] = block(2, "block-2");
    ev[n++] = remove_mapping(3);
    ev[n++] = update(3, "k1", "v1c");
    ev[n++] = reward(3, "staker-a", 0, 105);
    ev[n++] = block(3, "block-3");
    return n;
}

/* ---- reading the database --------------------------------------------------------------- */

static sqlite3 *open_db(const char *name) {
    char path[512];
    path_in_workdir(path, sizeof path, name);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The value of key at height: returns 1 and copies it into out (NUL-terminated), or 0 if absent. */
static int value_at(sqlite3 *db, const char *key, uint32_t height, char *out, size_t cap) {
    sqlite3_stmt *st = NULL;
    int found = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, HISTORY_QUERY, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_blob(st, 1, "credits.aleo", 12, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, "account", 7, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, key, (int)strlen(key), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, height);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1) {
        int n = sqlite3_column_bytes(st, 1);
        const void *v = sqlite3_column_blob(st, 1);
        size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
        if (len > 0) memcpy(out, v, len);
        out[len] = '\0';
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

static int64_t scalar(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    } else {
        fprintf(stderr, "query %s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return v;
}

/* scalar on the database name in the work directory, opened for this query only; -1 when it
   cannot be opened. */
static int64_t scalar_in(const char *name, const char *sql) {
    sqlite3 *db = open_db(name);
    int64_t v = db != NULL ? scalar(db, sql) : -1;
    sqlite3_close(db);
    return v;
}

/* Every row of every table as one string, to compare databases. Caller frees. */
static char *dump(const char *name) {
    static const char *const sql =
        "SELECT coalesce((SELECT group_concat(r, ';') FROM (SELECT hex(program_id) || hex(mapping_name) || hex(key)"
        " || '@' || block_height || '.' || seq || '=' || coalesce(hex(value), 'NULL') AS r FROM mapping_history"
        " ORDER BY program_id, mapping_name, key, block_height, seq)), '') || '|' ||"
        " coalesce((SELECT group_concat(r, ';') FROM (SELECT hex(program_id) || hex(mapping_name) || '@' || block_height"
        " || '.' || seq AS r FROM mapping_removals ORDER BY 1)), '') || '|' ||"
        " coalesce((SELECT group_concat(r, ';') FROM (SELECT hex(staker) || hex(validator) || '@' || block_height"
        " || '=' || reward || ',' || new_stake AS r FROM staking_rewards ORDER BY 1)), '') || '|' ||"
        " coalesce((SELECT group_concat(r, ';') FROM (SELECT block_height || '=' || hex(block) AS r FROM blocks"
        " ORDER BY block_height)), '')";
    sqlite3 *db = open_db(name);
    if (db == NULL) return NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        size_t n = strlen(text) + 1;
        out = malloc(n);
        if (out != NULL) memcpy(out, text, n);
    } else {
        fprintf(stderr, "dump: %s\n", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_entry_points(void) {
    current_test = "entry_points";
    CHECK(abi_version() == SLIPSTREAM_ABI_VERSION);
    slipstream_plugin *p = create_plugin();
    CHECK(p != NULL);
    if (p == NULL) return;
    const slipstream_plugin_vtable *vt = p->vtable;
    CHECK(vt->struct_size == sizeof(slipstream_plugin_vtable));
    CHECK(vt->abi_major == SLIPSTREAM_ABI_MAJOR && vt->abi_minor == SLIPSTREAM_ABI_MINOR);
    CHECK(strcmp(vt->name(p), "history") == 0);
    CHECK(vt->on_load != NULL && vt->on_unload != NULL && vt->destroy != NULL);
    CHECK(vt->on_broadcast != NULL && vt->on_broadcast_batch != NULL);
    CHECK(vt->struct_size == 72 && vt->resume_height != NULL); /* ABI 1.1 */
    CHECK(vt->subscribed_events(p) == SLIPSTREAM_MASK_ALL);
    vt->destroy(p); /* destroy without on_load is allowed */
}

static void check_chain_contents(const char *name) {
    sqlite3 *db = open_db(name);
    CHECK(db != NULL);
    if (db == NULL) return;
    char v[64];
    CHECK(value_at(db, "k1", 0, v, sizeof v) == 0);
    CHECK(value_at(db, "k1", 1, v, sizeof v) == 1 && strcmp(v, "v1") == 0); /* last write of the block wins */
    CHECK(value_at(db, "k1", 2, v, sizeof v) == 1 && strcmp(v, "v1b") == 0);
    CHECK(value_at(db, "k1", 3, v, sizeof v) == 1 && strcmp(v, "v1c") == 0); /* re-inserted after the removal */
    CHECK(value_at(db, "k1", 1000, v, sizeof v) == 1 && strcmp(v, "v1c") == 0);
    CHECK(value_at(db, "k2", 1, v, sizeof v) == 1 && strcmp(v, "v2") == 0);
    CHECK(value_at(db, "k2", 2, v, sizeof v) == 0); /* key removed */
    CHECK(value_at(db, "k3", 2, v, sizeof v) == 1 && strcmp(v, "v3") == 0);
    CHECK(value_at(db, "k3", 3, v, sizeof v) == 0); /* mapping removed */
    CHECK(value_at(db, "k4", 1, v, sizeof v) == 1 && v[0] == '\0'); /* empty value is present */
    CHECK(value_at(db, "k4", 3, v, sizeof v) == 0);
    CHECK(value_at(db, "nope", 3, v, sizeof v) == 0);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_history") == 8);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_history WHERE value IS NULL") == 1);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_removals WHERE block_height = 3 AND seq = 0") == 1);
    CHECK(scalar(db, "SELECT seq FROM mapping_history WHERE block_height = 3") == 1);
    CHECK(scalar(db, "SELECT count(*) FROM staking_rewards") == 3);
    CHECK(scalar(db, "SELECT reward FROM staking_rewards WHERE staker = CAST('staker-a' AS BLOB) AND block_height = 2") == 5);
    CHECK(scalar(db, "SELECT new_stake FROM staking_rewards WHERE staker = CAST('staker-a' AS BLOB) AND block_height = 3") == 105);
    CHECK((uint64_t)scalar(db, "SELECT reward FROM staking_rewards WHERE staker = CAST('staker-b' AS BLOB)") == BIG_REWARD);
    CHECK((uint64_t)scalar(db, "SELECT new_stake FROM staking_rewards WHERE staker = CAST('staker-b' AS BLOB)") == UINT64_MAX);
    CHECK(scalar(db, "SELECT count(*) FROM staking_rewards WHERE validator = CAST('validator-1' AS BLOB)") == 3);
    CHECK(scalar(db, "SELECT count(*) FROM blocks") == 3);
    CHECK(scalar(db, "SELECT count(*) FROM blocks WHERE block_height = 2 AND block = CAST('block-2' AS BLOB)") == 1);
    sqlite3_close(db);
}

static void test_single_events(void) {
    current_test = "single_events";
    instance in;
    CHECK(load(&in, "sqlite", "single.db", NULL) == SLIPSTREAM_OK); /* relative to the config's directory */
    if (in.p == NULL) {
        fprintf(stderr, "  on_load: %s\n", in.err);
        return;
    }
    CHECK(strstr(in.fh.last_log, "ready") != NULL);
    slipstream_event ev[32];
    size_t n = chain(ev);
    for (size_t i = 0; i < n; i++) CHECK(send(&in, &ev[i]) == SLIPSTREAM_OK);
    slipstream_event future;
    memset(&future, 0, sizeof future);
    future.kind = 42; /* a kind from a newer minor: ignored, not an error */
    future.block_height = 3;
    CHECK(send(&in, &future) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(in.fh.errors_logged == 0);
    char path[512];
    path_in_workdir(path, sizeof path, "single.db");
    struct stat stbuf;
    CHECK(stat(path, &stbuf) == 0);
    check_chain_contents("single.db");
}

static void test_batch_and_replay(void) {
    current_test = "batch_and_replay";
    slipstream_event ev[32];
    size_t n = chain(ev);
    instance in;
    CHECK(load(&in, "sqlite", "batch.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(send_batch(&in, ev, 6) == SLIPSTREAM_OK);     /* block 1 */
    CHECK(send_batch(&in, ev + 6, n - 6) == SLIPSTREAM_OK); /* blocks 2 and 3 in one call */
    unload(&in);
    check_chain_contents("batch.db");
    char *before = dump("batch.db");
    CHECK(before != NULL && strlen(before) > 100);

    /* at-least-once: the same blocks again, once in a batch and once event by event */
    CHECK(load(&in, "sqlite", "batch.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) {
        free(before);
        return;
    }
    CHECK(send_batch(&in, ev, n) == SLIPSTREAM_OK);
    for (size_t i = 6; i < n; i++) CHECK(send(&in, &ev[i]) == SLIPSTREAM_OK);
    unload(&in);
    char *after = dump("batch.db");
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    check_chain_contents("batch.db");
    free(before);
    free(after);
}

/* A block stored only in part (unloaded mid-block) is completed by its replay. */
static void test_partial_then_replay(void) {
    current_test = "partial_then_replay";
    slipstream_event ev[32];
    size_t n = chain(ev);
    instance in;
    CHECK(load(&in, "sqlite", "partial.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(send_batch(&in, ev, 8) == SLIPSTREAM_OK); /* block 1, and two events of block 2 */
    unload(&in);
    CHECK(scalar_in("partial.db", "SELECT count(*) FROM mapping_history WHERE block_height = 2") == 2);
    CHECK(load(&in, "sqlite", "partial.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(send_batch(&in, ev + 6, n - 6) == SLIPSTREAM_OK); /* blocks 2 and 3, whole */
    unload(&in);
    char *got = dump("partial.db"), *want = dump("single.db");
    CHECK(got != NULL && want != NULL && strcmp(got, want) == 0);
    free(got);
    free(want);
}

static int64_t visible_blocks(const char *name) { return scalar_in(name, "SELECT count(*) FROM blocks"); }

static void test_batch_blocks(void) {
    current_test = "batch_blocks";
    instance in;
    char abs_path[512];
    path_in_workdir(abs_path, sizeof abs_path, "batch3.db");
    CHECK(load(&in, "sqlite", abs_path, "batch_blocks", "3", "batch_ms", "0", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    for (uint32_t h = 10; h <= 16; h++) {
        slipstream_event ev[3] = {update(h, "k", h % 2 ? "odd" : "even"), reward(h, "s", h, 100 + h), block(h, "b")};
        CHECK(send_batch(&in, ev, 3) == SLIPSTREAM_OK);
        /* readers see nothing until a batch of three blocks commits */
        int64_t want = h < 12 ? 0 : h < 15 ? 3 : 6;
        CHECK(visible_blocks("batch3.db") == want);
    }
    unload(&in); /* commits block 16 */
    CHECK(visible_blocks("batch3.db") == 7);
    CHECK(scalar_in("batch3.db", "SELECT count(*) FROM mapping_history") == 7);
    CHECK(scalar_in("batch3.db", "SELECT count(*) FROM staking_rewards") == 7);
}

/* A host that sends no Block events: the block ends when the height changes. */
static void test_no_block_events(void) {
    current_test = "no_block_events";
    instance in;
    CHECK(load(&in, "sqlite", "noblock.db", "batch_blocks", "1", "batch_ms", "0", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    slipstream_event a = update(20, "k", "a"), b = update(20, "k", "b"), c = update(21, "k", "c");
    CHECK(send(&in, &a) == SLIPSTREAM_OK && send(&in, &b) == SLIPSTREAM_OK);
    sqlite3 *db = open_db("noblock.db");
    CHECK(db != NULL && scalar(db, "SELECT count(*) FROM mapping_history") == 0);
    CHECK(send(&in, &c) == SLIPSTREAM_OK); /* ends block 20: committed */
    CHECK(db != NULL && scalar(db, "SELECT count(*) FROM mapping_history") == 2);
    sqlite3_close(db);
    unload(&in);
    CHECK(scalar_in("noblock.db", "SELECT count(*) FROM mapping_history") == 3);
    CHECK(scalar_in("noblock.db", "SELECT seq FROM mapping_history WHERE block_height = 21") == 0);
    CHECK(scalar_in("noblock.db", "SELECT max(seq) FROM mapping_history WHERE block_height = 20") == 1);
}

/* replace_mapping as the host sends it (snarkVM's rule): one keyed removal per old key that
   the new entries drop, in the old mapping's order, then one update per entry; a kept key gets
   only its update. Block 1 writes k1..k3; block 2 replaces the mapping with {k2, k5}; block 3
   writes k9, then replaces with {k2} (drops k5 and k9: a key written earlier in the same
   block is removed by seq order). No keyless removal: the mapping itself stays. */
static void test_replace_mapping(void) {
    current_test = "replace_mapping";
    instance in;
    CHECK(load(&in, "sqlite", "replace.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    slipstream_event ev[] = {
        update(1, "k1", "v1"), update(1, "k2", "v2"), update(1, "k3", "v3"), block(1, "b1"),
        remove_key(2, "k1"), remove_key(2, "k3"), update(2, "k2", "n2"), update(2, "k5", "n5"), block(2, "b2"),
        update(3, "k9", "x"), remove_key(3, "k5"), remove_key(3, "k9"), update(3, "k2", "m2"), block(3, "b3"),
    };
    size_t n = sizeof ev / sizeof ev[0];
    CHECK(send_batch(&in, ev, 4) == SLIPSTREAM_OK);
    for (size_t i = 4; i < n; i++) CHECK(send(&in, &ev[i]) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(in.fh.errors_logged == 0);
    sqlite3 *db = open_db("replace.db");
    CHECK(db != NULL);
    if (db == NULL) return;
    char v[64];
    CHECK(value_at(db, "k1", 1, v, sizeof v) == 1 && strcmp(v, "v1") == 0);
    CHECK(value_at(db, "k1", 2, v, sizeof v) == 0); /* dropped by the replacement */
    CHECK(value_at(db, "k3", 2, v, sizeof v) == 0);
    CHECK(value_at(db, "k3", 1000, v, sizeof v) == 0);
    CHECK(value_at(db, "k2", 1, v, sizeof v) == 1 && strcmp(v, "v2") == 0);
    CHECK(value_at(db, "k2", 2, v, sizeof v) == 1 && strcmp(v, "n2") == 0); /* kept: its new value */
    CHECK(value_at(db, "k5", 1, v, sizeof v) == 0);
    CHECK(value_at(db, "k5", 2, v, sizeof v) == 1 && strcmp(v, "n5") == 0);
    CHECK(value_at(db, "k5", 3, v, sizeof v) == 0);
    CHECK(value_at(db, "k9", 3, v, sizeof v) == 0); /* written, then dropped, in block 3 */
    CHECK(value_at(db, "k2", 3, v, sizeof v) == 1 && strcmp(v, "m2") == 0);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_removals") == 0);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_history WHERE value IS NULL") == 4);
    CHECK(scalar(db, "SELECT count(*) FROM mapping_history") == 11);
    CHECK(scalar(db, "SELECT count(*) FROM blocks") == 3);
    sqlite3_close(db);
}

static void expect_load_error(const char *what, const char *needle, instance *in, int32_t rc) {
    current_test = what;
    CHECK(rc != SLIPSTREAM_OK);
    CHECK(in->p == NULL);
    CHECK(in->err[0] != '\0');
    if (needle != NULL && strstr(in->err, needle) == NULL) {
        fprintf(stderr, "FAIL %s: message \"%s\" lacks \"%s\"\n", what, in->err, needle);
        failures++;
    }
}

static void test_load_errors(void) {
    instance in;
    char file[512], bad[600];
    path_in_workdir(file, sizeof file, "a-regular-file");
    FILE *f = fopen(file, "w");
    if (f != NULL) fclose(f);
    snprintf(bad, sizeof bad, "%s/history.db", file); /* a directory that is a file: unwritable even for root */
    expect_load_error("error_unwritable_sqlite", "cannot open", &in, load(&in, "sqlite", bad, NULL));
    expect_load_error("error_batch_zero", "batch_blocks", &in, load(&in, "batch_blocks", "0", NULL));
    expect_load_error("error_batch_text", "batch_blocks", &in, load(&in, "batch_blocks", "12abc", NULL));
    expect_load_error("error_batch_negative", "batch_blocks", &in, load(&in, "batch_blocks", "-1", NULL));
    expect_load_error("error_batch_ms_text", "batch_ms must be an integer from 0 to 3600000, not \"100ms\"", &in,
                      load(&in, "batch_ms", "100ms", NULL));
    expect_load_error("error_batch_ms_negative", "batch_ms", &in, load(&in, "batch_ms", "-5", NULL));
    expect_load_error("error_batch_ms_large", "batch_ms", &in, load(&in, "batch_ms", "3600001", NULL));
    expect_load_error("error_batch_ms_empty", "batch_ms", &in, load(&in, "batch_ms", "", NULL));
    expect_load_error("error_both_backends", "not both", &in,
                      load(&in, "sqlite", "x.db", "postgres", "host=/nonexistent", NULL));
    expect_load_error("error_empty_sqlite", "empty", &in, load(&in, "sqlite", "", NULL));
    /* no server there: the libpq error reaches the operator (or "no PostgreSQL backend") */
    expect_load_error("error_postgres_unreachable", "postgres", &in,
                      load(&in, "postgres", "host=/nonexistent-slipstream-dir port=1 connect_timeout=2", NULL));
}

/* No config at all: history.db next to the config file. */
static void test_default_path(void) {
    current_test = "default_path";
    instance in;
    CHECK(load(&in, NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    slipstream_event b = block(1, "x");
    CHECK(send(&in, &b) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(visible_blocks("history.db") == 1);
}

/* ---- the resume position (ABI 1.1) ------------------------------------------------------ */

/* Where a position test stores: a SQLite file in the work directory, or a PostgreSQL schema. */
typedef struct store {
    const char *backend; /* "sqlite" or "postgres" */
    char k1[16], v1[512], k2[16], v2[64];
} store;

static const char *pg_conninfo; /* TEST_HISTORY_PG, or NULL */

static store make_store(const char *backend, const char *name) {
    store s;
    memset(&s, 0, sizeof s);
    s.backend = backend;
    if (strcmp(backend, "sqlite") == 0) {
        snprintf(s.k1, sizeof s.k1, "sqlite");
        snprintf(s.v1, sizeof s.v1, "%s.db", name);
        snprintf(s.k2, sizeof s.k2, "batch_blocks"); /* overridden by load_store's argument */
    } else {
        snprintf(s.k1, sizeof s.k1, "postgres");
        snprintf(s.v1, sizeof s.v1, "%s", pg_conninfo);
        snprintf(s.k2, sizeof s.k2, "schema");
        snprintf(s.v2, sizeof s.v2, "pos_%s_%ld", name, (long)getpid());
    }
    return s;
}

/* Commits by block count only (batch_ms 0), so that the tests know where each batch ends. */
static int32_t load_store(instance *in, const store *s, const char *batch_blocks) {
    if (strcmp(s->backend, "sqlite") == 0) {
        return load(in, s->k1, s->v1, "batch_blocks", batch_blocks, "batch_ms", "0", NULL);
    }
    return load(in, s->k1, s->v1, s->k2, s->v2, "batch_blocks", batch_blocks, "batch_ms", "0", NULL);
}

/* load_store as a check: a failed load is a failed check and ends the test. */
#define LOAD_STORE(in, s, batch_blocks)                                \
    do {                                                               \
        CHECK(load_store(&(in), &(s), batch_blocks) == SLIPSTREAM_OK); \
        if ((in).p == NULL) return;                                    \
    } while (0)

/* Calls resume_height as the host does after on_load; UINT64_MAX when it fails. */
static uint64_t resume(instance *in) {
    uint64_t h = 12345;
    slipstream_error e = {in->err, sizeof in->err};
    in->err[0] = '\0';
    if (in->p->vtable->resume_height(in->p, &h, &e) != SLIPSTREAM_OK) {
        fprintf(stderr, "  resume_height: %s\n", in->err);
        return UINT64_MAX;
    }
    return h;
}

/* A fresh instance's resume height (loads, asks, unloads without any event). */
static uint64_t stored_position(const store *s) {
    instance in;
    if (load_store(&in, s, "1") != SLIPSTREAM_OK) {
        fprintf(stderr, "  on_load: %s\n", in.err);
        return UINT64_MAX - 1;
    }
    uint64_t h = resume(&in);
    unload(&in);
    return h;
}

/* The process dies: no on_unload, the connection goes away with whatever was uncommitted
   (destroy closes the backend without committing, like a killed process). */
static void crash(instance *in) {
    in->p->vtable->destroy(in->p);
    in->p = NULL;
}

/* Sends block h whole (an update, a reward, the Block event), in one batch. */
static int32_t send_block(instance *in, uint32_t h) {
    slipstream_event ev[3] = {update(h, "k", "v"), reward(h, "s", h, 100 + h), block(h, "b")};
    return send_batch(in, ev, 3);
}

/* Sends the first events of block h, not its end. */
static int32_t send_block_start(instance *in, uint32_t h) {
    slipstream_event ev[2] = {update(h, "k", "partial"), update(h, "k2", "partial")};
    return send_batch(in, ev, 2);
}

static void test_position_fresh(const char *backend) {
    current_test = "position_fresh";
    store s = make_store(backend, "fresh");
    instance in;
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 0);
    CHECK(resume(&in) == 0); /* asking twice changes nothing */
    unload(&in);
    CHECK(stored_position(&s) == 0); /* loading without events stores nothing */
}

static void test_position_after_unload(const char *backend) {
    current_test = "position_after_unload";
    store s = make_store(backend, "unload");
    instance in;
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 0);
    for (uint32_t h = 5; h <= 9; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(stored_position(&s) == 10);

    /* Unloaded in the middle of block 10: its first events are committed, the position is not. */
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 10);
    CHECK(send_block_start(&in, 10) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(stored_position(&s) == 10);
    if (strcmp(backend, "sqlite") == 0) {
        CHECK(scalar_in("unload.db", "SELECT count(*) FROM mapping_history WHERE block_height = 10") == 2);
        CHECK(scalar_in("unload.db", "SELECT count(*) FROM blocks") == 5);
    }

    /* The host delivers block 10 again, whole: now it counts. */
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 10);
    slipstream_event ev[4] = {update(10, "k", "partial"), update(10, "k2", "partial"), update(10, "k3", "rest"),
                              block(10, "b")};
    CHECK(send_batch(&in, ev, 4) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(stored_position(&s) == 11);

    /* Replaying older blocks never lowers the position. */
    LOAD_STORE(in, s, "1");
    for (uint32_t h = 1; h <= 3; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(stored_position(&s) == 11);
}

/* batch_blocks 3: the killed process loses its uncommitted batch and the position with it. */
static void test_position_crash_mid_batch(const char *backend) {
    current_test = "position_crash_mid_batch";
    store s = make_store(backend, "crash");
    instance in;
    LOAD_STORE(in, s, "3");
    CHECK(resume(&in) == 0);
    for (uint32_t h = 1; h <= 7; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK); /* commits after 3 and 6 */
    CHECK(send_block_start(&in, 8) == SLIPSTREAM_OK);
    crash(&in);
    CHECK(stored_position(&s) == 7);
    if (strcmp(backend, "sqlite") == 0) {
        CHECK(scalar_in("crash.db", "SELECT max(block_height) FROM blocks") == 6);
        CHECK(scalar_in("crash.db", "SELECT count(*) FROM mapping_history WHERE block_height > 6") == 0);
    }

    /* Resumed from 7 and crashed again in mid-block, right after a commit: block 9 had ended
       when the height changed, block 10 had not. */
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 7);
    for (uint32_t h = 7; h <= 8; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    slipstream_event no_end[2] = {update(9, "k", "no block event"), update(10, "k", "next height")};
    CHECK(send_batch(&in, no_end, 2) == SLIPSTREAM_OK);
    crash(&in);
    CHECK(stored_position(&s) == 10);
}

/* A write that fails (a trigger refuses block 13) loses that block: the position stops before
   it, though later blocks are stored, so a restart delivers 13 again. SQLite only (the test
   needs to plant the trigger). */
static void test_position_after_failure(void) {
    current_test = "position_after_failure";
    store s = make_store("sqlite", "failure");
    instance in;
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 0);
    unload(&in);
    char path[512];
    path_in_workdir(path, sizeof path, "failure.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TRIGGER refuse_13 BEFORE INSERT ON blocks WHEN NEW.block_height = 13"
                       " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == 0);
    for (uint32_t h = 11; h <= 12; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    CHECK(send_block(&in, 13) != SLIPSTREAM_OK);
    CHECK(strstr(in.err, "injected failure") != NULL);
    for (uint32_t h = 14; h <= 15; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    unload(&in);
    CHECK(in.fh.errors_logged == 1);
    CHECK(stored_position(&s) == 13);
    CHECK(scalar_in("failure.db", "SELECT count(*) FROM blocks") == 4); /* 11, 12, 14, 15 */
}

static void test_position_errors(void) {
    current_test = "position_errors";
    slipstream_plugin *p = create_plugin();
    CHECK(p != NULL);
    if (p == NULL) return;
    char buf[256] = "";
    slipstream_error e = {buf, sizeof buf};
    uint64_t h = 7;
    CHECK(p->vtable->resume_height(p, &h, &e) != SLIPSTREAM_OK && strstr(buf, "before on_load") != NULL && h == 7);
    p->vtable->destroy(p);

    /* A value no height can be: reported, not returned. */
    store s = make_store("sqlite", "corrupt");
    CHECK(stored_position(&s) == 0);
    char path[512];
    path_in_workdir(path, sizeof path, "corrupt.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO slipstream_position VALUES ('history', -5)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    instance in;
    LOAD_STORE(in, s, "1");
    CHECK(resume(&in) == UINT64_MAX && strstr(in.err, "slipstream_position") != NULL);
    unload(&in);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Polls scalar_in(name, sql) until it returns want or 10 s pass; returns the last value. */
static int64_t wait_for(const char *name, const char *sql, int64_t want) {
    double until = now_ms() + 10000;
    int64_t got;
    const struct timespec pause = {0, 5000000L};
    while ((got = scalar_in(name, sql)) != want && now_ms() < until) nanosleep(&pause, NULL);
    return got;
}

/* The defaults: large batches, and a time limit (the ready line names both). */
static void test_defaults(void) {
    current_test = "defaults";
    instance in;
    CHECK(load(&in, "sqlite", "defaults.db", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(strstr(in.fh.last_log, "batch_blocks=256, batch_ms=100") != NULL);
    CHECK(resume(&in) == 0);
    for (uint32_t h = 1; h <= 3; h++) CHECK(send_block(&in, h) == SLIPSTREAM_OK);
    unload(&in); /* stops the timer, then commits what it had not */
    CHECK(visible_blocks("defaults.db") == 3);
    CHECK(scalar_in("defaults.db", "SELECT next_height FROM slipstream_position") == 4);
    CHECK(in.fh.errors_logged == 0);
}

/* batch_ms: a batch far from full is committed once batch_ms has passed, though no further
   event arrives; the position counts the ended blocks only, exactly as a count commit does. */
static void test_batch_ms(void) {
    current_test = "batch_ms";
    instance in;
    CHECK(load(&in, "sqlite", "timer.db", "batch_blocks", "1000", "batch_ms", "30", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(resume(&in) == 0);
    double sent = now_ms();
    CHECK(send_block(&in, 1) == SLIPSTREAM_OK && send_block(&in, 2) == SLIPSTREAM_OK);
    CHECK(wait_for("timer.db", "SELECT count(*) FROM blocks", 2) == 2);
    double took = now_ms() - sent;
    CHECK(took >= 25); /* not before batch_ms (a clock tick of slack) */
    CHECK(wait_for("timer.db", "SELECT next_height FROM slipstream_position", 3) == 3);

    /* A block still arriving when the time is up: its rows are committed, not counted. */
    CHECK(send_block_start(&in, 3) == SLIPSTREAM_OK);
    CHECK(wait_for("timer.db", "SELECT count(*) FROM mapping_history WHERE block_height = 3", 2) == 2);
    CHECK(scalar_in("timer.db", "SELECT next_height FROM slipstream_position") == 3);
    slipstream_event rest[2] = {update(3, "k3", "rest"), block(3, "b")};
    CHECK(send_batch(&in, rest, 2) == SLIPSTREAM_OK); /* the block ends in the next batch */
    CHECK(wait_for("timer.db", "SELECT next_height FROM slipstream_position", 4) == 4);

    /* Killed with a batch pending that is not yet due: lost with its position, as before. */
    unload(&in);
    CHECK(load(&in, "sqlite", "timer.db", "batch_blocks", "1000", "batch_ms", "3600000", NULL) == SLIPSTREAM_OK);
    if (in.p == NULL) return;
    CHECK(resume(&in) == 4);
    CHECK(send_block(&in, 4) == SLIPSTREAM_OK);
    crash(&in);
    CHECK(scalar_in("timer.db", "SELECT next_height FROM slipstream_position") == 4);
    CHECK(scalar_in("timer.db", "SELECT count(*) FROM blocks") == 3);
    CHECK(in.fh.errors_logged == 0);
}

static void test_positions(const char *backend) {
    test_position_fresh(backend);
    test_position_after_unload(backend);
    test_position_crash_mid_batch(backend);
}

static int remove_tree(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
    return system(cmd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/libslipstream_history.so\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    *(void **)&abi_version = dlsym(lib, "slipstream_abi_version");
    *(void **)&create_plugin = dlsym(lib, "_create_plugin");
    if (abi_version == NULL || create_plugin == NULL) {
        fprintf(stderr, "missing entry points\n");
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/slipstream-history-test-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(workdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_entry_points();
    test_single_events();
    test_batch_and_replay();
    test_partial_then_replay();
    test_batch_blocks();
    test_no_block_events();
    test_replace_mapping();
    test_load_errors();
    test_default_path();
    test_positions("sqlite");
    test_position_after_failure();
    test_position_errors();
    test_defaults();
    test_batch_ms();
    pg_conninfo = getenv("TEST_HISTORY_PG");
    if (pg_conninfo != NULL && pg_conninfo[0] != '\0') {
        int before = failures;
        test_positions("postgres");
        printf("postgres position tests: %s\n", failures == before ? "ok" : "FAILED");
    }
    dlclose(lib);
    if (failures == 0) remove_tree();
    else fprintf(stderr, "kept %s for inspection\n", workdir);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
