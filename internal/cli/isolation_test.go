package cli_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/internal/cli"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// faultyConfig writes a config for the faulty test plugin (testdata/plugins/faulty.c)
// recording into dir/out; extra is more JSON5 keys.
func faultyConfig(t *testing.T, dir, name, out string, cxx bool, extra string) string {
	t.Helper()
	lib := ctest.FaultyPlugin(t, cxx)
	return writeFile(t, dir, name, fmt.Sprintf("{libpath: %q, out: %q, marker: %q, %s}", lib,
		filepath.Join(dir, out), filepath.Join(dir, name+".marker"), extra))
}

// TestReplayIsolatedCrash: `slipstream replay` with a plugin in a child process that
// crashes, aborts, throws a C++ exception, exits or hangs at one height on its first run
// finishes with exit 0 (error_policy log); the plugin's record holds every event exactly
// once, as in an uninterrupted run in process, and the summary shows one restart and its
// cause. With max_restarts 0 and error_policy halt the replay exits 1 naming the plugin.
func TestReplayIsolatedCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	chain := gen(t, dir, "chain.ndjson", "--blocks", "60", "--seed", "7", "--ops", "8", "--stakers", "4")
	ref := faultyConfig(t, dir, "ref.json5", "ref.out", false, "")
	if r := run(t, dir, "replay", "--plugin", ref, "--input", chain, "--log-level", "disabled"); r.code != 0 {
		t.Fatalf("reference replay: exit %d: %s", r.code, r.stderr)
	}
	want := events(t, filepath.Join(dir, "ref.out"))
	for _, tc := range ctest.Faults {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := faultyConfig(t, dir, tc.Name+".json5", tc.Name+".out", tc.CXX,
				fmt.Sprintf(`isolation: "process", call_timeout: "1s", fault: %q, at: 30`, tc.Name))
			r := run(t, dir, "replay", "--plugin", cfg, "--input", chain, "--json", "--log-level", "error")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := events(t, filepath.Join(dir, tc.Name+".out")); !slices.Equal(got, want) {
				t.Errorf("record: %d events, the uninterrupted run %d (every event exactly once, in order)", len(got), len(want))
			}
			var sum cli.Summary
			if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
				t.Fatalf("--json output: %v\n%s", err, r.stdout)
			}
			p := sum.Plugins[0]
			if p.Restarts != 1 || p.RestartCause != tc.Cause || p.Isolation != "process" || p.State != "active" || p.Events != uint64(len(want)) || p.Dropped != 0 {
				t.Errorf("summary: restarts %d cause %q isolation %q state %s events %d dropped %d; want 1 %q process active %d 0",
					p.Restarts, p.RestartCause, p.Isolation, p.State, p.Events, p.Dropped, tc.Cause, len(want))
			}
			if !strings.Contains(r.stderr, `"plugin":"faulty"`) || !strings.Contains(r.stderr, tc.Cause) || !strings.Contains(r.stderr, "last_acked_height") {
				t.Errorf("stderr lacks the plugin's name, the cause or the last acknowledged height:\n%s", r.stderr)
			}
			// The text summary says it too.
			cfg2 := faultyConfig(t, dir, tc.Name+"2.json5", tc.Name+"2.out", tc.CXX,
				fmt.Sprintf(`isolation: "process", call_timeout: "1s", fault: %q, at: 30`, tc.Name))
			r = run(t, dir, "replay", "--plugin", cfg2, "--input", chain, "--log-level", "disabled")
			if line := "faulty: child process restarted 1 times (last cause: " + tc.Cause + ")"; r.code != 0 || !strings.Contains(r.stdout, line) {
				t.Errorf("exit %d, text summary lacks %q:\n%s", r.code, line, r.stdout)
			}
		})
	}
	t.Run("halt", func(t *testing.T) {
		cfg := faultyConfig(t, dir, "halt.json5", "halt.out", false, `isolation: "process", fault: "segv", at: 30, max_restarts: 0, error_policy: "halt"`)
		r := run(t, dir, "replay", "--plugin", cfg, "--input", chain, "--log-level", "disabled")
		if r.code != 1 || !strings.Contains(r.stderr, `plugin "faulty" failed`) || !strings.Contains(r.stderr, "signal SIGSEGV") {
			t.Errorf("exit %d, stderr %q; want 1 naming the plugin and the signal", r.code, r.stderr)
		}
	})
}
