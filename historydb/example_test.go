package historydb_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/slipstream-go/slipstream/historydb"
)

// Ask what key alice of credits.aleo/account held at heights 1, 2 and 3. The history plugin
// wrote the database; here two rows stand in for what it stores for "alice = 100 in block 1,
// alice removed in block 2". A node's history lives at the plugin's `sqlite` path, or behind
// its `postgres` DSN (historydb.OpenPostgres, dialect historydb.Postgres).
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "historydb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "history.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // the plugin creates it on load
		log.Fatal(err)
	}

	db, err := historydb.OpenSQLite(path)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// What the plugin writes (see plugins/example_c/README.md for the schema).
	program, mapping, key := []byte("credits.aleo"), []byte("account"), []byte("alice")
	if err := historydb.CreateSchema(ctx, db, historydb.SQLite, ""); err != nil {
		log.Fatal(err)
	}
	const insert = `INSERT INTO mapping_history (program_id, mapping_name, key, block_height, seq, value)
		VALUES ($1, $2, $3, $4, 0, $5)`
	if _, err := db.ExecContext(ctx, insert, program, mapping, key, 1, []byte("100")); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, insert, program, mapping, key, 2, nil); err != nil { // removed
		log.Fatal(err)
	}

	for _, h := range []uint32{0, 1, 2, 3} {
		v, found, err := historydb.Query(ctx, db, historydb.SQLite, "", program, mapping, key, h)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("height %d: found=%v value=%q\n", h, found, v)
	}
	// Output:
	// height 0: found=false value=""
	// height 1: found=true value="100"
	// height 2: found=false value=""
	// height 3: found=false value=""
}
