package historydb_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/slipstream-go/slipstream/historydb"
	"github.com/slipstream-go/slipstream/internal/testpg"
)

var (
	program = []byte("credits.aleo")
	mapping = []byte("account")
)

// fixture writes, as the plugin would, a short history:
//
//	block 1: k1=v0 (seq 0), k1=v1 (1), k2=v2 (2), k3=v3 (3), k4="" (4)
//	block 2: k1=v1b (0), k2 removed (1); rewards
//	block 3: mapping removed (0), k1=v1c (1)
func fixture(t *testing.T, db *sql.DB, d historydb.Dialect, schema string) {
	t.Helper()
	ctx := context.Background()
	if err := historydb.CreateSchema(ctx, db, d, schema); err != nil {
		t.Fatal(err)
	}
	tbl := func(name string) string {
		if d == historydb.Postgres {
			return pgx.Identifier{schema, name}.Sanitize()
		}
		return name
	}
	type hist struct {
		key    string
		height int64
		seq    int64
		value  []byte
	}
	for _, h := range []hist{
		{"k1", 1, 0, []byte("v0")}, {"k1", 1, 1, []byte("v1")}, {"k2", 1, 2, []byte("v2")},
		{"k3", 1, 3, []byte("v3")}, {"k4", 1, 4, []byte{}},
		{"k1", 2, 0, []byte("v1b")}, {"k2", 2, 1, nil},
		{"k1", 3, 1, []byte("v1c")},
	} {
		if _, err := db.ExecContext(ctx, "INSERT INTO "+tbl("mapping_history")+
			" (program_id, mapping_name, key, block_height, seq, value) VALUES ($1, $2, $3, $4, $5, $6)",
			program, mapping, []byte(h.key), h.height, h.seq, h.value); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("INSERT INTO "+tbl("mapping_removals")+" (program_id, mapping_name, block_height, seq) VALUES ($1, $2, 3, 0)",
		program, mapping)
	big := uint64(1)<<63 + 7
	exec("INSERT INTO "+tbl("staking_rewards")+" (staker, validator, block_height, reward, new_stake) VALUES"+
		" ($1, $2, 2, 5, 105), ($3, $2, 2, $4, -1)",
		[]byte("staker-a"), []byte("validator-1"), []byte("staker-b"), int64(big))
}

func checkQueries(t *testing.T, db *sql.DB, d historydb.Dialect, schema string) {
	t.Helper()
	ctx := context.Background()
	tests := []struct {
		name   string
		key    string
		height uint32
		want   []byte // nil: absent
	}{
		{"before first write", "k1", 0, nil},
		{"last write of a block wins", "k1", 1, []byte("v1")},
		{"updated", "k1", 2, []byte("v1b")},
		{"re-inserted after mapping removal", "k1", 3, []byte("v1c")},
		{"far future", "k1", 1 << 31, []byte("v1c")},
		{"key present", "k2", 1, []byte("v2")},
		{"key removed", "k2", 2, nil},
		{"before mapping removal", "k3", 2, []byte("v3")},
		{"mapping removed", "k3", 3, nil},
		{"empty value is present", "k4", 1, []byte{}},
		{"never written", "nope", 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := historydb.Query(ctx, db, d, schema, program, mapping, []byte(tc.key), tc.height)
			if err != nil {
				t.Fatal(err)
			}
			if found != (tc.want != nil) || !bytes.Equal(got, tc.want) {
				t.Fatalf("Query(%s@%d) = %q, %v; want %q, %v", tc.key, tc.height, got, found, tc.want, tc.want != nil)
			}
		})
	}

	rewards := []struct {
		staker string
		height uint32
		want   historydb.Reward
		found  bool
	}{
		{"staker-a", 2, historydb.Reward{Validator: []byte("validator-1"), Reward: 5, NewStake: 105}, true},
		{"staker-b", 2, historydb.Reward{Validator: []byte("validator-1"), Reward: 1<<63 + 7, NewStake: ^uint64(0)}, true},
		{"staker-a", 3, historydb.Reward{}, false},
		{"nobody", 2, historydb.Reward{}, false},
	}
	for _, tc := range rewards {
		t.Run("reward "+tc.staker, func(t *testing.T) {
			got, found, err := historydb.StakingReward(ctx, db, d, schema, []byte(tc.staker), tc.height)
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.found || got.Reward != tc.want.Reward || got.NewStake != tc.want.NewStake ||
				!bytes.Equal(got.Validator, tc.want.Validator) {
				t.Fatalf("StakingReward(%s@%d) = %+v, %v; want %+v, %v", tc.staker, tc.height, got, found, tc.want, tc.found)
			}
		})
	}
}

func TestSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history #1 %.db") // characters a URI must escape
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	fixture(t, db, historydb.SQLite, "")
	db.Close()

	db, d, err := historydb.Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d != historydb.SQLite {
		t.Fatalf("dialect = %v", d)
	}
	checkQueries(t, db, d, "")
}

func TestPostgres(t *testing.T) {
	srv := testpg.Start(t)
	db, d, err := historydb.Open("", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if d != historydb.Postgres {
		t.Fatalf("dialect = %v", d)
	}
	for _, schema := range []string{"public", "Odd \"Schema\""} {
		t.Run(schema, func(t *testing.T) {
			fixture(t, db, d, schema)
			checkQueries(t, db, d, schema)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name         string
		sqlite, dsn  string
		wantSentinel error
	}{
		{"nothing", "", "", historydb.ErrNoTarget},
		{"both", "x.db", "host=/tmp", historydb.ErrBothTargets},
		{"missing sqlite file", filepath.Join(t.TempDir(), "missing", "x.db"), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _, err := historydb.Open(tc.sqlite, tc.dsn)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if tc.wantSentinel != nil && !errors.Is(err, tc.wantSentinel) {
				t.Fatalf("err = %v, want %v", err, tc.wantSentinel)
			}
		})
	}
}
