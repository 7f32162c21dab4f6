package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/ctest"
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
	cmd := exec.Command(bin, "replay", "--plugin", cfg, "--plugin", pacer, "--synthetic", "--blocks", strconv.Itoa(blocks),
		"--ops", "4", "--stakers", "2", "--abort-rate", "0", "--journal", filepath.Join(dir, "journal"),
		"--admin", "127.0.0.1:0", "--admin-token-file", tokenFile, "--plugin-dir", dir)
	cmd.Dir = dir
	base, _ := startWithAdmin(t, cmd)
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
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
	waitHeight := func(h int) {
		deadline := time.Now().Add(2 * time.Minute)
		for do("GET", "/journal", "") < h {
			if time.Now().After(deadline) {
				t.Fatalf("the journal did not reach height %d", h)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHeight(200)
	if code := do("DELETE", "/plugins/recorder", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d", code)
	}
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
