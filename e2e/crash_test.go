//go:build linux

package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/historydb"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestCrashAndResumeSoak kills (SIGKILL) a `slipstream replay` into the history plugin in
// the middle of the chain, resumes it — from the beginning, and from the last height the
// database holds (--from-height) — and checks that the database is then row for row the
// one an uninterrupted replay writes (which TestHistoryPluginRandomChain proves equal to the
// store's state). make test runs a short chain; make soak (SLIPSTREAM_SOAK=1) a long one with
// several kills.
func TestCrashAndResumeSoak(t *testing.T) {
	blocks, kills := 1500, 1
	if os.Getenv("SLIPSTREAM_SOAK") == "1" {
		blocks, kills = 6000, 3
	}
	if testing.Short() {
		blocks = 600
	}
	bin := ctest.GoCommand(t, "./cmd/slipstream")
	lib := ctest.HistoryPlugin(t)
	dir := t.TempDir()
	chainFile := filepath.Join(dir, "chain.ndjson")
	run(t, bin, "gen", "-q", "--blocks", strconv.Itoa(blocks), "--ops", "48", "--stakers", "20", "--seed", "11", "-o", chainFile)

	configFor := func(db string) string {
		return writeConfig(t, dir, db+".json5", copyLib(t, lib, dir), "sqlite", strconv.Quote(db))
	}
	clean := configFor("clean.db")
	run(t, bin, "replay", "--progress", "never", "--plugin", clean, "--input", chainFile)
	want := dumpHistory(t, filepath.Join(dir, "clean.db"))

	for _, mode := range []string{"from-start", "from-last-height"} {
		t.Run(mode, func(t *testing.T) {
			db := mode + ".db"
			cfg := configFor(db)
			dbPath := filepath.Join(dir, db)
			for k := 1; k <= kills; k++ {
				killMidway(t, bin, cfg, chainFile, dbPath, uint32(blocks*k/(kills+1)), mode == "from-last-height")
				args := []string{"replay", "--progress", "never", "--plugin", cfg, "--input", chainFile}
				if mode == "from-last-height" {
					args = append(args, "--from-height", resumeHeight(t, dbPath))
				}
				if k < kills {
					continue // killed again before the resume runs to the end
				}
				run(t, bin, args...)
			}
			got := dumpHistory(t, dbPath)
			for table, rows := range want {
				if !slices.Equal(got[table], rows) {
					t.Errorf("table %s: %d rows after crash and resume, %d in an uninterrupted replay (first difference at %d)",
						table, len(got[table]), len(rows), firstDiff(got[table], rows))
				}
			}
		})
	}
}

// killMidway starts a replay (with resume, past what dbPath holds) and SIGKILLs it once
// the database holds a block at height >= at.
func killMidway(t *testing.T, bin, cfg, chainFile, dbPath string, at uint32, resume bool) {
	t.Helper()
	args := []string{"replay", "--progress", "never", "--plugin", cfg, "--input", chainFile}
	if _, err := os.Stat(dbPath); err == nil && resume {
		args = append(args, "--from-height", resumeHeight(t, dbPath))
	}
	cmd := exec.Command(bin, args...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(5 * time.Minute)
	var seen uint32
	var lastErr error
	for reached := false; !reached; {
		select {
		case err := <-exited:
			t.Fatalf("the replay ended (%v) before height %d was stored (last seen %d, last error %v); its output:\n%s",
				err, at, seen, lastErr, output.Bytes())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("the replay did not reach height %d (last seen %d, last error %v); its output:\n%s", at, seen, lastErr, output.Bytes())
		case <-time.After(10 * time.Millisecond):
			if _, err := os.Stat(dbPath); err == nil {
				seen, lastErr = maxHeight(t, dbPath)
				reached = seen >= at
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := <-exited
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() {
		t.Fatalf("the replay was not killed mid-run (it ended with %v): make the chain longer", err)
	}
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("slipstream %v: %v\n%s", args, err, out)
	}
}

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := historydb.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// maxHeight is the highest block the history database holds (0 and the error if it cannot
// tell yet: schema not created, database busy).
func maxHeight(t *testing.T, path string) (uint32, error) {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	var h sql.NullInt64
	if err := db.QueryRowContext(context.Background(), "SELECT max(block_height) FROM blocks").Scan(&h); err != nil {
		return 0, err
	}
	return uint32(h.Int64), nil
}

// resumeHeight is the height a resumed replay starts delivering from.
func resumeHeight(t *testing.T, path string) string {
	t.Helper()
	h, err := maxHeight(t, path)
	if err != nil {
		t.Fatalf("reading the last stored height of %s: %v", path, err)
	}
	return strconv.FormatUint(uint64(h)+1, 10)
}

// dumpHistory returns every row of the history tables, in primary-key order, as text.
func dumpHistory(t *testing.T, path string) map[string][]string {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	queries := map[string]string{
		"mapping_history":  "SELECT program_id, mapping_name, key, block_height, seq, value FROM mapping_history ORDER BY 1, 2, 3, 4, 5",
		"mapping_removals": "SELECT program_id, mapping_name, block_height, seq FROM mapping_removals ORDER BY 1, 2, 3, 4",
		"staking_rewards":  "SELECT staker, validator, block_height, reward, new_stake FROM staking_rewards ORDER BY 1, 3",
		"blocks":           "SELECT block_height, block FROM blocks ORDER BY 1",
	}
	out := map[string][]string{}
	for table, q := range queries {
		rows, err := db.Query(q)
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
			line := ""
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					line += hex.EncodeToString(b) + " "
				} else {
					line += fmt.Sprint(v) + " "
				}
			}
			out[table] = append(out[table], line)
		}
		rows.Close()
		if len(out[table]) == 0 {
			t.Fatalf("table %s is empty: the chain exercised nothing", table)
		}
	}
	return out
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
