package cli_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/ctest"
	"github.com/slipstream-go/slipstream/internal/ctest/histtest"
	"github.com/slipstream-go/slipstream/internal/testpg"
)

// TestReplayJournalAdminGap: with --journal and --admin, a plugin DELETEd at one height and
// POSTed back a thousand blocks later (with its position: the height after the last it
// recorded) gets every block it missed from the journal: over its two lives it holds every
// height exactly once. A second, slow plugin keeps the replay paced meanwhile.
func TestReplayJournalAdminGap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const blocks = 2500
	cfg := recorderConfig(t, dir, "rec.json5", "rec1.out", "resume: 0")
	cmd, do, waitHeight, _ := startGapReplay(t, dir, cfg, "recorder", "--synthetic", "--blocks", strconv.Itoa(blocks),
		"--ops", "4", "--stakers", "2", "--abort-rate", "0")
	first := blockHeights(t, filepath.Join(dir, "rec1.out"))
	last := first[len(first)-1]
	waitHeight(int(last) + 1000)
	writeFile(t, dir, "rec2.json5", fmt.Sprintf("{libpath: %q, out: %q, resume: %d}",
		ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c"), filepath.Join(dir, "rec2.out"), last+1))
	if code := do("POST", "/plugins", `{"config_file": "rec2.json5"}`); code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("replay: %v", err)
	}
	all := append(first, blockHeights(t, filepath.Join(dir, "rec2.out"))...)
	if len(all) != blocks {
		t.Errorf("%d Block events over the two loads, want %d", len(all), blocks)
	}
	for i, h := range all {
		if h != all[0]+uint32(i) {
			t.Fatalf("Block event %d is at height %d, want %d (the first load ended at %d)", i, h, all[0]+uint32(i), last)
		}
	}
}

// TestReplayJournalAdminGapHistory is TestReplayJournalAdminGap with the real history
// plugin (plugins/example_c), on SQLite and on PostgreSQL: DELETEd at one height and POSTed
// back, with the same config, a thousand blocks later, it resumes from its own position
// (resume_height, read from its database) and the journal gives it every block it missed:
// its database ends row for row equal to the one of an uninterrupted replay.
func TestReplayJournalAdminGapHistory(t *testing.T) {
	t.Parallel()
	lib := ctest.HistoryPlugin(t)
	const blocks = 2500
	chain := []string{"--synthetic", "--blocks", strconv.Itoa(blocks), "--ops", "4", "--stakers", "2", "--abort-rate", "0"}
	backends := []struct {
		name string
		db   func(t *testing.T, dir string) (histtest.DB, string) // the database and the config's keys
	}{
		{"sqlite", func(t *testing.T, dir string) (histtest.DB, string) {
			return histtest.SQLite(filepath.Join(dir, "history.db")), "sqlite: 'history.db'"
		}},
		{"postgres", func(t *testing.T, dir string) (histtest.DB, string) {
			srv := testpg.Start(t)
			return histtest.Postgres(srv.DSN, "gap"), fmt.Sprintf("postgres: %q, schema: 'gap'", srv.DSN)
		}},
	}
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			cleanDir, dir := t.TempDir(), t.TempDir()
			db, keys := bk.db(t, dir)
			// The uninterrupted replay, into its own file or schema.
			cleanDB, cleanKeys := histtest.SQLite(filepath.Join(cleanDir, "history.db")), "sqlite: 'history.db'"
			if db.DSN != "" {
				cleanDB, cleanKeys = histtest.Postgres(db.DSN, "clean"), fmt.Sprintf("postgres: %q, schema: 'clean'", db.DSN)
			}
			cleanCfg := writeFile(t, cleanDir, "history.json5", fmt.Sprintf("{libpath: %q, %s}", lib, cleanKeys))
			if r := run(t, cleanDir, append([]string{"replay", "--progress", "never", "--plugin", cleanCfg}, chain...)...); r.code != 0 {
				t.Fatalf("the uninterrupted replay: exit %d\n%s", r.code, r.stderr)
			}
			want := histtest.Dump(t, cleanDB)

			cfg := writeFile(t, dir, "history.json5", fmt.Sprintf("{libpath: %q, %s}", lib, keys))
			cmd, do, waitHeight, stderrText := startGapReplay(t, dir, cfg, "history", chain...)
			last, err := histtest.MaxHeight(t, db)
			if err != nil {
				t.Fatal(err)
			}
			waitHeight(int(last) + 1000)
			if code := do("POST", "/plugins", `{"config_file": "history.json5"}`); code != http.StatusCreated {
				t.Fatalf("POST: %d", code)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("replay: %v\n%s", err, stderrText())
			}
			t.Logf("deleted with height %d stored, posted back after height %d", last, last+1000)
			if got := histtest.Dump(t, db); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("after the gap, against an uninterrupted replay: %s", histtest.Diff(got, want))
			}
		})
	}
}

// startGapReplay starts `slipstream replay` in dir with the plugin config cfg, a second,
// slow plugin that keeps the replay paced (a copy of the recorder named "pacer": a library
// of its own, so that it loads beside a recorder), a journal and the admin API, then waits
// until the journal holds height 200 and DELETEs the plugin named name. The tests POST it
// back and wait for cmd.
func startGapReplay(t *testing.T, dir, cfg, name string, chain ...string) (cmd *exec.Cmd, do func(method, path, body string) int, waitHeight func(h int), stderrText func() string) {
	t.Helper()
	pacerLib := filepath.Join(dir, "libpacer.so")
	data, err := os.ReadFile(ctest.Plugin(t, "recorder", "testdata/plugins/recorder.c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pacerLib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	pacer := writeFile(t, dir, "pacer.json5", fmt.Sprintf("{libpath: %q, name: 'pacer', out: %q, events: 8, sleep_us: 3000}", pacerLib, filepath.Join(dir, "pacer.out")))
	tokenFile := writeFile(t, dir, "token", "s3cret\n")
	cmd = exec.Command(bin, append([]string{"replay", "--progress", "never", "--plugin", cfg, "--plugin", pacer,
		"--journal", filepath.Join(dir, "journal"), "--admin", "127.0.0.1:0", "--admin-token-file", tokenFile,
		"--plugin-dir", dir}, chain...)...)
	cmd.Dir = dir
	base, stderrText := startWithAdmin(t, cmd)
	do, waitHeight = adminClient(t, base, "s3cret")
	waitHeight(200)
	if code := do("DELETE", "/plugins/"+name, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /plugins/%s: %d", name, code)
	}
	return cmd, do, waitHeight, stderrText
}

// adminClient returns, for the admin API at base with the token, a function doing a request
// (the status, or for GET /journal the journal's last height) and one waiting until the
// journal holds height h.
func adminClient(t *testing.T, base, token string) (do func(method, path, body string) int, waitHeight func(h int)) {
	do = func(method, path, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if path == "/journal" {
			var j struct {
				Last uint32 `json:"last_height"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
				t.Fatal(err)
			}
			return int(j.Last)
		}
		return resp.StatusCode
	}
	waitHeight = func(h int) {
		deadline := time.Now().Add(2 * time.Minute)
		for do("GET", "/journal", "") < h {
			if time.Now().After(deadline) {
				t.Fatalf("the journal did not reach height %d", h)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return do, waitHeight
}

// blockHeights returns the heights of the Block events a recorder wrote.
func blockHeights(t *testing.T, path string) []uint32 {
	t.Helper()
	var hs []uint32
	for _, l := range ctest.ReadLines(t, path) {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "ev" && f[1] == "3" {
			h, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, uint32(h))
		}
	}
	return hs
}
