// Package histtest reads the history plugin's database (plugins/example_c) for the tests
// that compare two of them row for row: a SQLite file or a PostgreSQL schema, dumped as
// the same text for both backends. It is a package of its own so that the tests that do
// not read a history database do not link the SQL drivers.
package histtest

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/historydb"
)

// DB is a history database: a SQLite file, or a PostgreSQL schema.
type DB struct {
	SQLite      string // the SQLite file; "" for PostgreSQL
	DSN, Schema string // the PostgreSQL connection string and schema
}

// SQLite is the history database in the SQLite file path.
func SQLite(path string) DB { return DB{SQLite: path} }

// Postgres is the history database in the schema of the PostgreSQL server dsn.
func Postgres(dsn, schema string) DB { return DB{DSN: dsn, Schema: schema} }

// String names the database in failure messages.
func (d DB) String() string {
	if d.SQLite != "" {
		return d.SQLite
	}
	return "PostgreSQL schema " + d.Schema
}

// Table is the name of a history table in queries.
func (d DB) Table(name string) string {
	if d.SQLite != "" {
		return name
	}
	return d.Schema + "." + name
}

// Exists reports whether the database may be opened without creating it (a PostgreSQL
// server exists before the plugin writes; its tables may not, which queries report).
func (d DB) Exists() bool {
	if d.SQLite == "" {
		return true
	}
	_, err := os.Stat(d.SQLite)
	return err == nil
}

// Open opens the database; the test fails if it cannot.
func (d DB) Open(t testing.TB) *sql.DB {
	t.Helper()
	db, _, err := historydb.Open(d.SQLite, d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// MaxHeight is the highest block the database holds (0 and the error if it cannot tell
// yet: schema not created, database busy).
func MaxHeight(t testing.TB, d DB) (uint32, error) {
	t.Helper()
	db := d.Open(t)
	defer db.Close()
	var h sql.NullInt64
	if err := db.QueryRowContext(context.Background(), "SELECT max(block_height) FROM "+d.Table("blocks")).Scan(&h); err != nil {
		return 0, err
	}
	return uint32(h.Int64), nil
}

// Dump returns every row of the history tables, in primary-key order, as text (the same
// text for both backends: their columns are integers and bytes alike). The test fails if a
// table is empty: the chain exercised nothing.
func Dump(t testing.TB, d DB) map[string][]string {
	t.Helper()
	db := d.Open(t)
	defer db.Close()
	queries := map[string]string{
		"mapping_history":  "SELECT program_id, mapping_name, key, block_height, seq, value FROM %s ORDER BY 1, 2, 3, 4, 5",
		"mapping_removals": "SELECT program_id, mapping_name, block_height, seq FROM %s ORDER BY 1, 2, 3, 4",
		"staking_rewards":  "SELECT staker, validator, block_height, reward, new_stake FROM %s ORDER BY 1, 3",
		"blocks":           "SELECT block_height, block FROM %s ORDER BY 1",
	}
	out := map[string][]string{}
	for table, q := range queries {
		rows, err := db.Query(fmt.Sprintf(q, d.Table(table)))
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var line strings.Builder
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					line.WriteString(hex.EncodeToString(b) + " ")
				} else {
					fmt.Fprint(&line, v, " ")
				}
			}
			out[table] = append(out[table], line.String())
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if len(out[table]) == 0 {
			t.Fatalf("table %s of %s is empty: the chain exercised nothing", table, d)
		}
	}
	return out
}

// Diff describes how the dumps got and want differ ("" when they are equal).
func Diff(got, want map[string][]string) string {
	var b strings.Builder
	for _, table := range slices.Sorted(maps.Keys(want)) {
		if g, w := got[table], want[table]; !slices.Equal(g, w) {
			fmt.Fprintf(&b, "table %s: %d rows, want %d (first difference at row %d); ", table, len(g), len(w), FirstDiff(g, w))
		}
	}
	return b.String()
}

// FirstDiff is the index of the first line where a and b differ (the shorter length when
// one is a prefix of the other).
func FirstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
