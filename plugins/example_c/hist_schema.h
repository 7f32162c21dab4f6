/*
 * hist_schema.h — the history schema, shared by the plugin and bench_insert.
 * Documented in README.md; internal/historydb (Go) creates the same tables in its tests.
 *
 * seq is the position of a mapping event (update or removal) within its block, so the
 * primary keys make a replayed block collide with itself: INSERT OR IGNORE / ON CONFLICT DO
 * NOTHING then make replays idempotent.
 *
 * slipstream_position holds the plugin's resume height (ABI 1.1): next_height is the first
 * block height not yet wholly stored, written in the same transaction as the rows and never
 * lowered. One row per plugin name ("history"), so one per database file or PG schema.
 */
#ifndef HIST_SCHEMA_H
#define HIST_SCHEMA_H

#define HIST_SQLITE_DDL                                                                           \
    "CREATE TABLE IF NOT EXISTS mapping_history ("                                                \
    " program_id BLOB NOT NULL, mapping_name BLOB NOT NULL, key BLOB NOT NULL,"                   \
    " block_height INTEGER NOT NULL, seq INTEGER NOT NULL, value BLOB,"                           \
    " PRIMARY KEY (program_id, mapping_name, key, block_height, seq)) WITHOUT ROWID;"             \
    "CREATE TABLE IF NOT EXISTS mapping_removals ("                                               \
    " program_id BLOB NOT NULL, mapping_name BLOB NOT NULL,"                                      \
    " block_height INTEGER NOT NULL, seq INTEGER NOT NULL,"                                       \
    " PRIMARY KEY (program_id, mapping_name, block_height, seq)) WITHOUT ROWID;"                  \
    "CREATE TABLE IF NOT EXISTS staking_rewards ("                                                \
    " staker BLOB NOT NULL, validator BLOB NOT NULL, block_height INTEGER NOT NULL,"              \
    " reward INTEGER NOT NULL, new_stake INTEGER NOT NULL,"                                       \
    " PRIMARY KEY (staker, block_height)) WITHOUT ROWID;"                                         \
    "CREATE TABLE IF NOT EXISTS blocks (block_height INTEGER PRIMARY KEY, block BLOB NOT NULL);"     \
    "CREATE TABLE IF NOT EXISTS slipstream_position ("                                            \
    " plugin TEXT PRIMARY KEY, next_height INTEGER NOT NULL) WITHOUT ROWID;"

/* Runs with search_path set to the configured schema. */
#define HIST_PG_DDL                                                                               \
    "CREATE TABLE IF NOT EXISTS mapping_history ("                                                \
    " program_id BYTEA NOT NULL, mapping_name BYTEA NOT NULL, key BYTEA NOT NULL,"                \
    " block_height BIGINT NOT NULL, seq BIGINT NOT NULL, value BYTEA,"                            \
    " PRIMARY KEY (program_id, mapping_name, key, block_height, seq));"                           \
    "CREATE TABLE IF NOT EXISTS mapping_removals ("                                               \
    " program_id BYTEA NOT NULL, mapping_name BYTEA NOT NULL,"                                    \
    " block_height BIGINT NOT NULL, seq BIGINT NOT NULL,"                                         \
    " PRIMARY KEY (program_id, mapping_name, block_height, seq));"                                \
    "CREATE TABLE IF NOT EXISTS staking_rewards ("                                                \
    " staker BYTEA NOT NULL, validator BYTEA NOT NULL, block_height BIGINT NOT NULL,"             \
    " reward BIGINT NOT NULL, new_stake BIGINT NOT NULL,"                                         \
    " PRIMARY KEY (staker, block_height));"                                                       \
    "CREATE TABLE IF NOT EXISTS blocks (block_height BIGINT PRIMARY KEY, block BYTEA NOT NULL);"     \
    "CREATE TABLE IF NOT EXISTS slipstream_position ("                                            \
    " plugin TEXT PRIMARY KEY, next_height BIGINT NOT NULL);"

/* The key of the plugin's row in slipstream_position. */
#define HIST_POSITION_KEY "history"

#endif /* HIST_SCHEMA_H */
