package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/internal/cli"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// lifecycleConfig writes a config for the lifecycle test plugin (on_load and on_unload
// that misbehave on request) with the extra JSON5 keys, and returns its path.
func lifecycleConfig(t *testing.T, dir, name, extra string) string {
	t.Helper()
	lib := ctest.Plugin(t, "lifecycle", "testdata/plugins/lifecycle.c")
	if extra != "" {
		extra = ", " + extra
	}
	return writeFile(t, dir, name, fmt.Sprintf("{libpath: %q%s}", lib, extra))
}

// TestUsageErrorIsOneLine: a usage error says what is wrong on one line and where the help
// is on the next, on stderr; the whole usage is for --help.
func TestUsageErrorIsOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // the first line
		hint string
	}{
		{[]string{"replay"}, "slipstream replay: no --plugin given", "run 'slipstream replay --help' for its usage"},
		{[]string{"replay", "--bogus"}, "slipstream replay: flag provided but not defined: -bogus", "run 'slipstream replay --help' for its usage"},
		{[]string{"replay", "--plugin", "x", "--synthetic", "--blocks", "x"}, `slipstream replay: invalid value "x" for flag -blocks`, "run 'slipstream replay --help' for its usage"},
		{[]string{"check"}, "slipstream check: no config file given", "run 'slipstream check --help' for its usage"},
		{[]string{"check", "--nope", "x"}, "slipstream check: flag provided but not defined: -nope", "run 'slipstream check --help' for its usage"},
		{[]string{"history", "--sqlite", "x.db"}, "slipstream history: --program is required", "run 'slipstream history --help' for its usage"},
		{[]string{"gen", "extra"}, `slipstream gen: unexpected argument "extra"`, "run 'slipstream gen --help' for its usage"},
		{[]string{"frobnicate"}, `slipstream: unknown command "frobnicate"`, "run 'slipstream --help' for the commands"},
		{[]string{"help", "frobnicate"}, `slipstream: help: unknown command "frobnicate"`, "run 'slipstream --help' for the commands"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			a := &cli.App{Stdout: &stdout, Stderr: &stderr}
			code := a.Run(context.Background(), tt.args)
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if code != cli.ExitUsage || stdout.Len() != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], tt.want) || lines[1] != tt.hint {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2, nothing on stdout, and on stderr two lines: %q…, %q",
					code, stdout.String(), stderr.String(), tt.want, tt.hint)
			}
		})
	}
}

// TestReplayRefusesBadInput: a height beyond 2^32-1 does not wrap around (and deliver
// everything), and a directory is not a chain file: both are usage errors, before any
// plugin is loaded.
func TestReplayRefusesBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"from-height 2^32", []string{"--synthetic", "--blocks", "5", "--from-height", "4294967296"}, "--from-height 4294967296 is beyond the largest block height, 4294967295"},
		{"from-height 2^32+3", []string{"--synthetic", "--blocks", "5", "--from-height", "4294967299"}, "--from-height 4294967299 is beyond"},
		{"input is a directory", []string{"--input", dir}, "cannot open the input: " + dir + " is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, dir, append([]string{"replay", "--plugin", cfg}, tt.args...)...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.stdout, r.stderr, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "rec.out")); err == nil {
				t.Fatalf("the plugin was loaded: %q", ctest.ReadLines(t, filepath.Join(dir, "rec.out")))
			}
		})
	}
}

// TestReplayAsyncHaltFails: an async plugin with error_policy halt that fails makes the
// replay exit 1 (as a sync one does), with the plugin's error and its state in the summary.
func TestReplayAsyncHaltFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := recorderConfig(t, dir, "rec.json5", "rec.out", `fail_every: 1, error_policy: 'halt', delivery: 'async'`)
	r := run(t, dir, "replay", "--plugin", cfg, "--synthetic", "--blocks", "20", "--json", "--log-level", "disabled")
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, `plugin "recorder" failed (error_policy halt, async delivery)`) ||
		!strings.Contains(r.stderr, "fails on purpose") {
		t.Fatalf("exit %d, stderr %q; want 1 and the plugin's failure", r.code, r.stderr)
	}
	var sum cli.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(sum.Plugins) != 1 || sum.Plugins[0].State != "failed" || !strings.Contains(sum.Error, "fails on purpose") {
		t.Fatalf("summary %+v: want the plugin failed and the error", sum)
	}
}

// TestReplaySummaryStateAndFields: the text summary shows each plugin's state and labels the
// total as deliveries over all plugins; --json always has the documented fields, error ""
// on success.
func TestReplaySummaryStateAndFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok := recorderConfig(t, dir, "ok.json5", "ok.out", "")
	// A second recorder library (the host loads a library once) that fails every event
	// and is disabled after 3.
	lib := ctest.Plugin(t, "recorder2", "testdata/plugins/recorder.c", `-DRECORDER_NAME="flaky"`)
	flaky := writeFile(t, dir, "flaky.json5", fmt.Sprintf("{libpath: %q, out: %q, fail_every: 1, error_policy: 'disable', max_consecutive_errors: 3}",
		lib, filepath.Join(dir, "flaky.out")))
	args := []string{"replay", "--plugin", ok, "--plugin", flaky, "--synthetic", "--blocks", "10", "--log-level", "disabled"}

	r := run(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"STATE", "deliveries ", "(events delivered, summed over 2 plugins)", "deliveries/s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text summary lacks %q:\n%s", want, r.stdout)
		}
	}
	rows := map[string][]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 2 && rows[f[0]] == nil { // the table's rows come first
			rows[f[0]] = f
		}
	}
	if f := rows["recorder"]; f == nil || f[1] != "active" {
		t.Errorf("recorder's row %q, want state active:\n%s", f, r.stdout)
	}
	if f := rows["flaky"]; f == nil || f[1] != "disabled" {
		t.Errorf("flaky's row %q, want state disabled:\n%s", f, r.stdout)
	}
	if !strings.Contains(r.stdout, "flaky disabled: ") || !strings.Contains(r.stdout, "fails on purpose") {
		t.Errorf("the summary does not say why flaky is disabled:\n%s", r.stdout)
	}

	r = run(t, dir, append(args, "--json")...)
	if r.code != 0 {
		t.Fatalf("--json: exit %d: %s", r.code, r.stderr)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"blocks", "committed", "aborted", "first_height", "last_height", "events", "wall_seconds",
		"events_per_sec", "max_rss_kb", "gc_cycles", "go_heap_kb", "interrupted", "error", "plugins"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("--json lacks %q:\n%s", k, r.stdout)
		}
	}
	if raw["error"] != "" {
		t.Errorf("error %v, want \"\"", raw["error"])
	}
	if heap, rss := raw["go_heap_kb"].(float64), raw["max_rss_kb"].(float64); heap <= 0 || (rss > 0 && heap >= rss) {
		t.Errorf("go_heap_kb %v with max_rss_kb %v: want more than 0 and less than the RSS", heap, rss)
	}
	plugins, _ := raw["plugins"].([]any)
	if len(plugins) != 2 {
		t.Fatalf("plugins %v", raw["plugins"])
	}
	for i, want := range []string{"active", "disabled"} {
		p, _ := plugins[i].(map[string]any)
		for _, k := range []string{"name", "library", "abi_version", "subscriptions", "state", "events", "errors", "dropped",
			"calls", "p50_ns", "p99_ns", "events_per_sec", "last_error", "unload_error"} {
			if _, ok := p[k]; !ok {
				t.Errorf("plugins[%d] lacks %q: %v", i, k, p)
			}
		}
		if p["state"] != want || p["unload_error"] != "" {
			t.Errorf("plugins[%d]: state %v, unload_error %v; want %s and \"\"", i, p["state"], p["unload_error"], want)
		}
	}
}

// TestReplayUnloadError: a plugin whose on_unload fails (logs an error: its data may not be
// flushed) makes the replay exit 1 and shows in the summary.
//
// It needs host's PluginInfo.UnloadError to be filled in (branch hostdel).
func TestReplayUnloadError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := lifecycleConfig(t, dir, "lc.json5", `unload_error: "cannot flush the database"`)
	r := run(t, dir, "replay", "--plugin", cfg, "--synthetic", "--blocks", "5", "--json", "--log-level", "disabled")
	if r.code != cli.ExitFailure || !strings.Contains(r.stderr, `plugin "lifecycle" failed while unloading`) ||
		!strings.Contains(r.stderr, "cannot flush the database") {
		t.Fatalf("exit %d, stderr %q; want 1 and the unload error", r.code, r.stderr)
	}
	var sum cli.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(sum.Plugins) != 1 || !strings.Contains(sum.Plugins[0].UnloadError, "cannot flush the database") ||
		!strings.Contains(sum.Error, "failed while unloading") {
		t.Fatalf("summary %+v", sum)
	}
	r = run(t, dir, "replay", "--plugin", cfg, "--synthetic", "--blocks", "5", "--log-level", "disabled")
	if r.code != cli.ExitFailure || !strings.Contains(r.stdout, "lifecycle failed while unloading: ") {
		t.Fatalf("text summary: exit %d:\n%s", r.code, r.stdout)
	}
}

// TestCheckUnloadError: a plugin whose on_unload logs an error fails the check, in the
// child and in process.
//
// It needs host's PluginInfo.UnloadError to be filled in (branch hostdel).
func TestCheckUnloadError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := lifecycleConfig(t, dir, "lc.json5", `unload_error: "cannot flush the database"`)
	clean := lifecycleConfig(t, dir, "clean.json5", "")
	for _, args := range [][]string{{cfg}, {"--in-process", cfg}} {
		r := run(t, dir, append([]string{"check"}, args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "plugin lifecycle failed while unloading") ||
			!strings.Contains(r.stderr, "cannot flush the database") || !strings.Contains(r.stdout, "status         FAILED while unloading") {
			t.Errorf("check %v: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 2 and the unload error", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := run(t, dir, "check", clean); r.code != 0 || !strings.Contains(r.stdout, "status         ok") {
		t.Errorf("clean plugin: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
}

// TestCheckInterrupted: SIGINT or SIGTERM to check while its child loads a plugin is
// reported as an interruption (exit 130), not as a plugin that crashed of SIGKILL.
func TestCheckInterrupted(t *testing.T) {
	t.Parallel()
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ready := filepath.Join(dir, "ready")
			cfg := lifecycleConfig(t, dir, "slow.json5", fmt.Sprintf("ready: %q, load_sleep_ms: 60000", ready))
			cmd := exec.Command(bin, "check", cfg, cfg)
			cmd.Dir = dir
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := os.Stat(ready); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the plugin's on_load did not start within a minute")
				}
				time.Sleep(5 * time.Millisecond)
			}
			t0 := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != cli.ExitInterrupted {
				t.Fatalf("wait: %v, want exit 130; stderr %q", err, se.String())
			}
			if time.Since(t0) > 30*time.Second {
				t.Errorf("check took %v to stop", time.Since(t0))
			}
			if !strings.Contains(se.String(), "slow.json5: interrupted (") || !strings.Contains(se.String(), " signal received) while loading") || !strings.Contains(se.String(), "while loading") ||
				strings.Contains(se.String(), "crashed") || strings.Contains(se.String(), "SIGKILL") {
				t.Fatalf("stderr %q: want an interruption, not a crash", se.String())
			}
			if n := strings.Count(se.String(), "interrupted"); n != 1 {
				t.Errorf("the second config was checked after the interruption: stderr %q", se.String())
			}
		})
	}
}
