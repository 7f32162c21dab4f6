/*
 * hist_backend.h — the storage interface of the history plugin.
 *
 * history.c turns Slipstream events into rows; a backend (SQLite or PostgreSQL) stores them.
 * Every put_* call belongs to the backend's current transaction, which the backend opens
 * lazily; commit() makes everything since the last commit durable at once, rollback()
 * forgets it. Byte strings are borrowed from the host: a backend that keeps them past the
 * call (the PostgreSQL one buffers rows) copies them.
 *
 * Every function returns SLIPSTREAM_OK or SLIPSTREAM_ERROR with a message in *err.
 */
#ifndef HIST_BACKEND_H
#define HIST_BACKEND_H

#include <slipstream.h>

/* Where a backend sends diagnostics (e.g. PostgreSQL notices). */
typedef struct hist_logger {
    void (*log)(void *ctx, int32_t level, const char *msg);
    void *ctx;
} hist_logger;

typedef struct hist_backend hist_backend;

typedef struct hist_backend_ops {
    const char *name; /* "sqlite" or "postgres", for log lines */
    /* A key written (value != NULL) or removed (value == NULL) at (height, seq). */
    int32_t (*put_update)(hist_backend *be, const slipstream_bytes *program, const slipstream_bytes *mapping,
                          const slipstream_bytes *key, const slipstream_bytes *value, uint32_t height,
                          uint32_t seq, slipstream_error *err);
    /* A whole mapping removed at (height, seq). */
    int32_t (*put_mapping_removal)(hist_backend *be, const slipstream_bytes *program,
                                   const slipstream_bytes *mapping, uint32_t height, uint32_t seq,
                                   slipstream_error *err);
    int32_t (*put_reward)(hist_backend *be, const slipstream_bytes *staker, const slipstream_bytes *validator,
                          uint32_t height, uint64_t reward, uint64_t new_stake, slipstream_error *err);
    int32_t (*put_block)(hist_backend *be, const slipstream_bytes *block, uint32_t height, slipstream_error *err);
    /* Records the resume position (the first height not yet wholly stored) as part of the
       current transaction: stored by the next commit, together with the rows, never lowered
       (the stored value becomes the larger of the two); forgotten by rollback. */
    int32_t (*put_position)(hist_backend *be, uint64_t next_height, slipstream_error *err);
    /* Reads the stored position: *next_height = 0 when none was ever committed. Call it only
       between transactions. */
    int32_t (*get_position)(hist_backend *be, uint64_t *next_height, slipstream_error *err);
    /* Commits the open transaction; a no-op when nothing was written since the last commit. */
    int32_t (*commit)(hist_backend *be, slipstream_error *err);
    /* Drops everything written since the last commit. Never fails (errors are logged). */
    void (*rollback)(hist_backend *be);
    /* Closes the connection and frees the backend. Uncommitted writes are dropped. */
    void (*close)(hist_backend *be);
} hist_backend_ops;

struct hist_backend {
    const hist_backend_ops *ops;
};

/* Opens (creating if needed) the SQLite database at `path` in WAL mode, with the schema. */
int32_t hist_sqlite_open(const char *path, hist_logger logger, hist_backend **out, slipstream_error *err);

/* Connects with the libpq `conninfo`, creates `schema` and the tables if missing. */
int32_t hist_pg_open(const char *conninfo, const char *schema, hist_logger logger, hist_backend **out,
                     slipstream_error *err);

#endif /* HIST_BACKEND_H */
