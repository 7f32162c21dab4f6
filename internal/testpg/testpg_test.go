package testpg_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/slipstream-go/slipstream/internal/testpg"
)

func TestStartServesQueriesAndStops(t *testing.T) {
	var socketDir string
	t.Run("server", func(t *testing.T) {
		srv := testpg.Start(t)
		socketDir = srv.SocketDir
		db, err := sql.Open("pgx", srv.DSN)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer db.Close()
		var version string
		if err := db.QueryRowContext(context.Background(), "SHOW server_version").Scan(&version); err != nil {
			t.Fatalf("query: %v", err)
		}
		t.Logf("PostgreSQL %s in %s", version, srv.BinDir)
		if _, err := db.Exec("CREATE TABLE t (x int); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatalf("write: %v", err)
		}
	})
	if socketDir == "" {
		return // skipped: no PostgreSQL
	}
	if _, err := os.Stat(socketDir); !os.IsNotExist(err) {
		t.Errorf("socket directory %s still exists after cleanup (err=%v)", socketDir, err)
	}
}

func TestFindBinDirHonoursEnv(t *testing.T) {
	t.Setenv("SLIPSTREAM_PG_BIN", t.TempDir())
	if _, err := testpg.FindBinDir(); err == nil {
		t.Fatal("FindBinDir accepted a directory without initdb")
	}
}
