//go:build linux

package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// TestCrashAndResumeSoak kills (SIGKILL) a `slipstream replay` into the history plugin
// (SQLite) and the Rust NDJSON plugin at random moments of the chain and re-runs the same
// command each time: with ABI 1.1 every plugin resumes from its own height (resume_height)
// with no flag, so the database must end row for row, and the NDJSON file line for line,
// equal to an uninterrupted replay (which TestHistoryPluginRandomChain proves equal to the
// store's state), no event twice. A second mode resumes with --from-height, which stays for
// other uses. make test runs a short chain and one kill; make soak (SLIPSTREAM_SOAK=1) a
// long one with five.
func TestCrashAndResumeSoak(t *testing.T) {
	blocks, kills := 1500, 1
	if os.Getenv("SLIPSTREAM_SOAK") == "1" {
		blocks, kills = 6000, 5
	}
	if testing.Short() {
		blocks = 600
	}
	bin := ctest.GoCommand(t, "./cmd/slipstream")
	lib := ctest.HistoryPlugin(t)
	rust := ctest.Cargo(t, "plugins/example_rust", "slipstream_example_rust")
	dir := t.TempDir()
	chainFile := filepath.Join(dir, "chain.ndjson")
	run(t, bin, "gen", "-q", "--blocks", strconv.Itoa(blocks), "--ops", "48", "--stakers", "20", "--seed", "11", "-o", chainFile)

	// configsFor writes the two plugins' configs for one run, into their own directory
	// (one library file may be loaded once per manager: each run gets its copies).
	configsFor := func(name string) (history, ndjson string) {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		history = writeConfig(t, d, "history.json5", copyLib(t, lib, d), "sqlite", strconv.Quote("history.db"))
		ndjson = writeConfig(t, d, "ndjson.json5", copyLib(t, rust, d), "path", strconv.Quote("events.ndjson"))
		return history, ndjson
	}
	cleanH, cleanN := configsFor("clean")
	run(t, bin, "replay", "--progress", "never", "--plugin", cleanH, "--plugin", cleanN, "--input", chainFile)
	want := dumpHistory(t, filepath.Join(dir, "clean", "history.db"))
	wantLines := ctest.ReadLines(t, filepath.Join(dir, "clean", "events.ndjson"))

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for _, mode := range []string{"same-command", "from-last-height"} {
		t.Run(mode, func(t *testing.T) {
			cfgH, cfgN := configsFor(mode)
			dbPath := filepath.Join(filepath.Dir(cfgH), "history.db")
			replay := func() []string {
				args := []string{"replay", "--progress", "never", "--plugin", cfgH, "--input", chainFile}
				if mode == "same-command" {
					args = append(args, "--plugin", cfgN)
				} else if _, err := os.Stat(dbPath); err == nil {
					args = append(args, "--from-height", resumeHeight(t, dbPath))
				}
				return args
			}
			for k := 1; k <= kills; k++ {
				// A random moment in the k-th part of the chain.
				part := blocks / (kills + 1)
				at := uint32(part*k + rng.IntN(part/2+1))
				t.Logf("kill %d: once height %d is stored", k, at)
				killMidway(t, bin, replay(), dbPath, at)
			}
			out, err := exec.Command(bin, append(replay(), "--json")...).Output()
			if err != nil {
				t.Fatalf("the last replay: %v", err)
			}
			got := dumpHistory(t, dbPath)
			for table, rows := range want {
				if !slices.Equal(got[table], rows) {
					t.Errorf("table %s: %d rows after crash and resume, %d in an uninterrupted replay (first difference at %d)",
						table, len(got[table]), len(rows), firstDiff(got[table], rows))
				}
			}
			if mode != "same-command" {
				return
			}
			if gotLines := ctest.ReadLines(t, filepath.Join(filepath.Dir(cfgN), "events.ndjson")); !slices.Equal(gotLines, wantLines) {
				t.Errorf("NDJSON: %d lines after crash and resume, %d in an uninterrupted replay (first difference at %d)",
					len(gotLines), len(wantLines), firstDiff(gotLines, wantLines))
			}
			var sum struct {
				Plugins []struct {
					Name         string `json:"name"`
					ResumeHeight uint64 `json:"resume_height"`
					Skipped      uint64 `json:"skipped"`
				} `json:"plugins"`
			}
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatalf("the last replay's --json: %v\n%s", err, out)
			}
			for _, p := range sum.Plugins {
				if p.ResumeHeight == 0 || p.Skipped == 0 {
					t.Errorf("%s: resume_height %d, skipped %d: the last run did not resume from the plugin's own height", p.Name, p.ResumeHeight, p.Skipped)
				}
			}
		})
	}
}

// killMidway runs slipstream with args and SIGKILLs it once the history database dbPath
// holds a block at height >= at.
func killMidway(t *testing.T, bin string, args []string, dbPath string, at uint32) {
	t.Helper()
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
