//go:build linux

package e2e_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/ctest"
	"github.com/slipstream-go/slipstream/internal/ctest/histtest"
	"github.com/slipstream-go/slipstream/internal/testpg"
)

// TestCrashAndResumeSoak kills (SIGKILL) a `slipstream replay` into the history plugin on
// SQLite, the history plugin on PostgreSQL (a private PostgreSQL 15 server, see testpg) and
// the Rust NDJSON plugin at random moments of the chain and re-runs the same command each
// time: with ABI 1.1 every plugin resumes from its own height (resume_height) with no flag,
// so both databases must end row for row, and the NDJSON file line for line, equal to an
// uninterrupted replay (which TestHistoryPluginRandomChain proves equal to the store's
// state), no event twice. A second mode resumes with --from-height (SQLite only: the flag
// is one height for every plugin), which stays for other uses. make test runs a short chain
// and one kill; make soak (SLIPSTREAM_SOAK=1) a long one with five.
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

	pg := testpg.Start(t)

	// configsFor writes the three plugins' configs for one run, into their own directories
	// (one library file may be loaded once per manager: each plugin gets its copy); the
	// PostgreSQL history plugin writes into the schema named after the run.
	configsFor := func(name string) (history, historyPG, ndjson string) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(d, "pg"), 0o700); err != nil {
			t.Fatal(err)
		}
		history = writeConfig(t, d, "history.json5", copyLib(t, lib, d), "sqlite", strconv.Quote("history.db"))
		historyPG = writeConfig(t, d, "history_pg.json5", copyLib(t, lib, filepath.Join(d, "pg")), "name", `"history_pg"`,
			"postgres", strconv.Quote(pg.DSN), "schema", strconv.Quote(pgSchema(name)))
		ndjson = writeConfig(t, d, "ndjson.json5", copyLib(t, rust, d), "path", strconv.Quote("events.ndjson"))
		return history, historyPG, ndjson
	}
	cleanH, cleanP, cleanN := configsFor("clean")
	run(t, bin, "replay", "--progress", "never", "--plugin", cleanH, "--plugin", cleanP, "--plugin", cleanN, "--input", chainFile)
	want := histtest.Dump(t, histtest.SQLite(filepath.Join(dir, "clean", "history.db")))
	if got := histtest.Dump(t, histtest.Postgres(pg.DSN, pgSchema("clean"))); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("an uninterrupted replay wrote different rows into PostgreSQL and SQLite: %s", histtest.Diff(got, want))
	}
	wantLines := ctest.ReadLines(t, filepath.Join(dir, "clean", "events.ndjson"))

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for _, mode := range []string{"same-command", "from-last-height"} {
		t.Run(mode, func(t *testing.T) {
			cfgH, cfgP, cfgN := configsFor(mode)
			dbPath := filepath.Join(filepath.Dir(cfgH), "history.db")
			replay := func() []string {
				args := []string{"replay", "--progress", "never", "--plugin", cfgH, "--input", chainFile}
				if mode == "same-command" {
					args = append(args, "--plugin", cfgP, "--plugin", cfgN)
				} else if _, err := os.Stat(dbPath); err == nil {
					args = append(args, "--from-height", resumeHeight(t, histtest.SQLite(dbPath)))
				}
				return args
			}
			for k := 1; k <= kills; k++ {
				// A random moment in the k-th part of the chain.
				part := blocks / (kills + 1)
				at := uint32(part*k + rng.IntN(part/2+1))
				t.Logf("kill %d: once height %d is stored", k, at)
				killMidway(t, bin, replay(), histtest.SQLite(dbPath), at)
			}
			out, err := exec.Command(bin, append(replay(), "--json")...).Output()
			if err != nil {
				t.Fatalf("the last replay: %v", err)
			}
			dbs := map[string]histtest.DB{"SQLite": histtest.SQLite(dbPath)}
			if mode == "same-command" {
				dbs["PostgreSQL"] = histtest.Postgres(pg.DSN, pgSchema(mode))
			}
			for name, db := range dbs {
				if got := histtest.Dump(t, db); !maps.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s after crash and resume, against an uninterrupted replay: %s", name, histtest.Diff(got, want))
				}
			}
			if mode != "same-command" {
				return
			}
			if gotLines := ctest.ReadLines(t, filepath.Join(filepath.Dir(cfgN), "events.ndjson")); !slices.Equal(gotLines, wantLines) {
				t.Errorf("NDJSON: %d lines after crash and resume, %d in an uninterrupted replay (first difference at %d)",
					len(gotLines), len(wantLines), histtest.FirstDiff(gotLines, wantLines))
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
			if len(sum.Plugins) != 3 {
				t.Fatalf("the last replay's --json lists %d plugins, want 3:\n%s", len(sum.Plugins), out)
			}
			for _, p := range sum.Plugins {
				if p.ResumeHeight == 0 || p.Skipped == 0 {
					t.Errorf("%s: resume_height %d, skipped %d: the last run did not resume from the plugin's own height", p.Name, p.ResumeHeight, p.Skipped)
				}
			}
		})
	}
}

// killMidway runs slipstream with args and SIGKILLs it once the history database db holds
// a block at height >= at.
func killMidway(t *testing.T, bin string, args []string, db histtest.DB, at uint32) {
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
			if db.Exists() {
				seen, lastErr = histtest.MaxHeight(t, db)
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

// pgSchema is the PostgreSQL schema of a run's history plugin.
func pgSchema(run string) string { return "crash_" + strings.ReplaceAll(run, "-", "_") }

// resumeHeight is the height a resumed replay starts delivering from.
func resumeHeight(t *testing.T, d histtest.DB) string {
	t.Helper()
	h, err := histtest.MaxHeight(t, d)
	if err != nil {
		t.Fatalf("reading the last stored height of %s: %v", d, err)
	}
	return strconv.FormatUint(uint64(h)+1, 10)
}
