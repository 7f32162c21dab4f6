// Package historydb reads the database that the history plugin (plugins/example_c) writes:
// the value a mapping key had at a block height ([Query]) and the staking reward paid to a
// staker in a block ([StakingReward]), from SQLite or PostgreSQL, without cgo
// (modernc.org/sqlite and pgx's database/sql driver).
//
// Open the database the plugin's config names (its `sqlite` path or its `postgres` DSN)
// with [OpenSQLite], [OpenPostgres] or [Open], then ask [Query] with the node's byte
// encodings of the program id, mapping name and key. The plugin may keep writing meanwhile:
// it commits every batch_blocks blocks or batch_ms milliseconds, and the answers cover the blocks
// committed so far. The `slipstream history` command is this package on the command line.
//
// The schema and the query are documented in plugins/example_c/README.md; this package is
// their Go implementation and stays in step with them.
package historydb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialect selects the SQL flavour of a history database.
type Dialect int

const (
	// SQLite is the plugin's default backend (a file).
	SQLite Dialect = iota
	// Postgres is the plugin's PostgreSQL backend.
	Postgres
)

// String returns the dialect's name as used in the plugin's config keys.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return fmt.Sprintf("Dialect(%d)", int(d))
	}
}

// DefaultSchema is the PostgreSQL schema the plugin writes to when its config names none.
const DefaultSchema = "public"

// ErrNoTarget is returned by Open when neither a SQLite path nor a PostgreSQL DSN is given.
var ErrNoTarget = errors.New("historydb: set a SQLite path or a PostgreSQL DSN")

// ErrBothTargets is returned by Open when both a SQLite path and a PostgreSQL DSN are given.
var ErrBothTargets = errors.New("historydb: set a SQLite path or a PostgreSQL DSN, not both")

// OpenSQLite opens the SQLite history database at path. It waits up to five seconds for
// the plugin's write lock instead of failing at once. The file must exist.
func OpenSQLite(path string) (*sql.DB, error) {
	if path == "" {
		return nil, ErrNoTarget
	}
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	q := url.Values{}
	q.Add("mode", "rw")
	q.Add("_pragma", "busy_timeout(5000)")
	u.RawQuery = q.Encode()
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("historydb: open sqlite %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("historydb: open sqlite %s: %w", path, err)
	}
	return db, nil
}

// OpenPostgres connects to PostgreSQL with a libpq-style DSN (key=value pairs or a
// postgres:// URL), the same string the plugin's `postgres` config key takes.
func OpenPostgres(dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, ErrNoTarget
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("historydb: open postgres: %w", err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("historydb: connect to postgres: %w", err)
	}
	return db, nil
}

// Open opens whichever of sqlitePath and postgresDSN is set (exactly one must be) and
// reports its dialect.
func Open(sqlitePath, postgresDSN string) (*sql.DB, Dialect, error) {
	switch {
	case sqlitePath != "" && postgresDSN != "":
		return nil, 0, ErrBothTargets
	case sqlitePath != "":
		db, err := OpenSQLite(sqlitePath)
		return db, SQLite, err
	case postgresDSN != "":
		db, err := OpenPostgres(postgresDSN)
		return db, Postgres, err
	default:
		return nil, 0, ErrNoTarget
	}
}

// table returns the qualified name of a history table.
func table(dialect Dialect, schema, name string) string {
	if dialect != Postgres {
		return name
	}
	if schema == "" {
		schema = DefaultSchema
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// valueQuery is the history query: the latest (block_height, seq) at or below the height
// among the key's own rows and its mapping's removals. No row, a NULL value, or a mapping
// removal means the key was absent at that height. Both arms are served by primary keys.
// `present` tells an empty value from NULL (drivers may scan both as a nil slice).
const valueQuery = `SELECT value IS NOT NULL AS present, value FROM (
  SELECT block_height, seq, value FROM (
    SELECT block_height, seq, value FROM %[1]s
    WHERE program_id = $1 AND mapping_name = $2 AND key = $3 AND block_height <= $4
    ORDER BY block_height DESC, seq DESC LIMIT 1) AS k
  UNION ALL
  SELECT block_height, seq, %[3]s FROM (
    SELECT block_height, seq FROM %[2]s
    WHERE program_id = $1 AND mapping_name = $2 AND block_height <= $4
    ORDER BY block_height DESC, seq DESC LIMIT 1) AS m
) AS latest ORDER BY block_height DESC, seq DESC LIMIT 1`

// ValueQuery returns the history query text for a dialect and schema. Its parameters are
// $1 program id, $2 mapping name, $3 key (all bytes) and $4 the height.
func ValueQuery(dialect Dialect, schema string) string {
	null := "NULL"
	if dialect == Postgres {
		null = "NULL::bytea"
	}
	return fmt.Sprintf(valueQuery, table(dialect, schema, "mapping_history"),
		table(dialect, schema, "mapping_removals"), null)
}

// Query returns the value key had in mapping of program at the end of block height:
// found is false when the key did not exist then (never written, removed, or its mapping
// removed). schema is used with Postgres only ("" means "public").
func Query(ctx context.Context, db *sql.DB, dialect Dialect, schema string, program, mapping, key []byte,
	height uint32) (value []byte, found bool, err error) {
	var (
		present bool
		v       []byte
	)
	err = db.QueryRowContext(ctx, ValueQuery(dialect, schema), nonNil(program), nonNil(mapping), nonNil(key),
		int64(height)).Scan(&present, &v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("historydb: query value at height %d: %w", height, err)
	case !present:
		return nil, false, nil
	case v == nil:
		return []byte{}, true, nil
	default:
		return v, true, nil
	}
}

// Reward is one staking reward row.
type Reward struct {
	// Validator is the validator the staker was bonded to.
	Validator []byte
	// Reward is the amount paid in that block (microcredits).
	Reward uint64
	// NewStake is the staker's stake after the block.
	NewStake uint64
}

// StakingReward returns the reward paid to staker in block height; found is false when
// that block paid it none. Amounts are stored as the signed 64-bit integers with the same
// bits and converted back here.
func StakingReward(ctx context.Context, db *sql.DB, dialect Dialect, schema string, staker []byte,
	height uint32) (r Reward, found bool, err error) {
	q := fmt.Sprintf("SELECT validator, reward, new_stake FROM %s WHERE staker = $1 AND block_height = $2",
		table(dialect, schema, "staking_rewards"))
	var reward, stake int64
	err = db.QueryRowContext(ctx, q, nonNil(staker), int64(height)).Scan(&r.Validator, &reward, &stake)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Reward{}, false, nil
	case err != nil:
		return Reward{}, false, fmt.Errorf("historydb: query staking reward at height %d: %w", height, err)
	}
	r.Reward, r.NewStake = uint64(reward), uint64(stake)
	return r, true, nil
}

// CreateSchema creates the plugin's tables if they are missing (in schema, for Postgres),
// exactly as the plugin does on load. Tools and tests use it to prepare a database.
func CreateSchema(ctx context.Context, db *sql.DB, dialect Dialect, schema string) error {
	stmts := sqliteDDL
	if dialect == Postgres {
		if schema == "" {
			schema = DefaultSchema
		}
		stmts = append([]string{"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize()}, postgresDDL...)
	}
	for _, s := range stmts {
		if dialect == Postgres {
			s = strings.ReplaceAll(s, "TABLE IF NOT EXISTS ", "TABLE IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()+".")
		}
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("historydb: create schema: %w", err)
		}
	}
	return nil
}

// nonNil makes an empty byte string a zero-length BLOB/BYTEA rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// The DDL of plugins/example_c/hist_schema.h.
var sqliteDDL = []string{
	`CREATE TABLE IF NOT EXISTS mapping_history (program_id BLOB NOT NULL, mapping_name BLOB NOT NULL,
	 key BLOB NOT NULL, block_height INTEGER NOT NULL, seq INTEGER NOT NULL, value BLOB,
	 PRIMARY KEY (program_id, mapping_name, key, block_height, seq)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS mapping_removals (program_id BLOB NOT NULL, mapping_name BLOB NOT NULL,
	 block_height INTEGER NOT NULL, seq INTEGER NOT NULL,
	 PRIMARY KEY (program_id, mapping_name, block_height, seq)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS staking_rewards (staker BLOB NOT NULL, validator BLOB NOT NULL,
	 block_height INTEGER NOT NULL, reward INTEGER NOT NULL, new_stake INTEGER NOT NULL,
	 PRIMARY KEY (staker, block_height)) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS blocks (block_height INTEGER PRIMARY KEY, block BLOB NOT NULL)`,
}

var postgresDDL = []string{
	`CREATE TABLE IF NOT EXISTS mapping_history (program_id BYTEA NOT NULL, mapping_name BYTEA NOT NULL,
	 key BYTEA NOT NULL, block_height BIGINT NOT NULL, seq BIGINT NOT NULL, value BYTEA,
	 PRIMARY KEY (program_id, mapping_name, key, block_height, seq))`,
	`CREATE TABLE IF NOT EXISTS mapping_removals (program_id BYTEA NOT NULL, mapping_name BYTEA NOT NULL,
	 block_height BIGINT NOT NULL, seq BIGINT NOT NULL,
	 PRIMARY KEY (program_id, mapping_name, block_height, seq))`,
	`CREATE TABLE IF NOT EXISTS staking_rewards (staker BYTEA NOT NULL, validator BYTEA NOT NULL,
	 block_height BIGINT NOT NULL, reward BIGINT NOT NULL, new_stake BIGINT NOT NULL,
	 PRIMARY KEY (staker, block_height))`,
	`CREATE TABLE IF NOT EXISTS blocks (block_height BIGINT PRIMARY KEY, block BYTEA NOT NULL)`,
}
