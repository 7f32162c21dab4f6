package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// childPids returns the processes whose parent is this process (Linux: from /proc).
func childPids(t testing.TB) []int {
	t.Helper()
	if runtime.GOOS != "linux" {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == me {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// noChildren fails the test if a process of this one is left (running or a zombie).
func noChildren(t testing.TB) {
	t.Helper()
	if pids := childPids(t); len(pids) > 0 {
		t.Errorf("child processes left behind: %v", pids)
	}
}

// heightsOf returns the heights of the "ev K H" lines of a faulty plugin's record.
func heightsOf(t testing.TB, lines []string) []uint32 {
	t.Helper()
	var hs []uint32
	for _, l := range lines {
		var k, h uint32
		if n, _ := fmt.Sscanf(l, "ev %d %d", &k, &h); n == 2 {
			hs = append(hs, h)
		}
	}
	return hs
}

// TestIsolatedCrashRestarts: a plugin in a child process that crashes (SIGSEGV, abort, an
// escaped C++ exception), exits (3) or hangs at height 40, only on its first run: the node
// goes on, the child is restarted and resumes from its resume height, and the plugin's
// record holds every height exactly once; Restarts and RestartCause say what happened,
// the log names the plugin, the cause and the last acknowledged height; nothing is left
// running.
func TestIsolatedCrashRestarts(t *testing.T) {
	const heights, at = 120, 40
	for _, tc := range ctest.Faults {
		t.Run(tc.Name, func(t *testing.T) {
			lib := ctest.FaultyPlugin(t, tc.CXX)
			dir := t.TempDir()
			out, marker := filepath.Join(dir, "out.txt"), filepath.Join(dir, "marker")
			cfg := writeConfig(t, dir, "faulty.json5", fmt.Sprintf(`{libpath: %q, isolation: "process", call_timeout: "1s",
				out: %q, marker: %q, fault: %q, at: %d, allow_insecure: true}`, lib, out, marker, tc.Name, at))
			var buf syncBuffer
			m := host.NewManager(host.WithLogger(testLogger(&buf)))
			if _, err := m.LoadPlugin(cfg); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for h := uint32(1); h <= heights; h++ {
				if err := m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: h, Block: []byte{byte(h)}}); err != nil {
					t.Fatal(err)
				}
				if h == at/2 { // acknowledged before the crash: the log names a height at least this
					if err := m.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := m.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d events with one crash and restart delivered in %v", tc.Name, heights, time.Since(start))
			infos := m.Shutdown()
			noChildren(t)

			got := heightsOf(t, ctest.ReadLines(t, out))
			if len(got) != heights {
				t.Errorf("record holds %d heights, want %d: %v", len(got), heights, got)
			}
			for i, h := range got {
				if h != uint32(i+1) {
					t.Fatalf("record's height %d is %d, want %d (every height exactly once, in order): %v", i, h, i+1, got)
				}
			}
			c := infos[0].Counters
			if c.Restarts != 1 || !strings.Contains(c.RestartCause, tc.Cause) {
				t.Errorf("Restarts %d, RestartCause %q; want 1, %q", c.Restarts, c.RestartCause, tc.Cause)
			}
			if c.Events != heights || c.Dropped != 0 || infos[0].State != host.StateActive || infos[0].UnloadError != "" {
				t.Errorf("events %d dropped %d state %s unload error %q; want %d 0 active", c.Events, c.Dropped, infos[0].State, infos[0].UnloadError, heights)
			}
			if infos[0].Isolation != host.IsolationProcess || !infos[0].Native || infos[0].Path == "" {
				t.Errorf("info: isolation %v native %v path %q", infos[0].Isolation, infos[0].Native, infos[0].Path)
			}
			logs := buf.String()
			if strings.Contains(logs, `"last_acked_height":0,`) {
				t.Errorf("the log names last acknowledged height 0, want at least %d:\n%s", at/2, logs)
			}
			for _, want := range []string{`"plugin":"faulty"`, `"cause":"` + tc.Cause, `"last_acked_height":`, "restarting it",
				`"message":"faulty loaded"`, "resuming"} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %s:\n%s", want, logs)
				}
			}
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "resuming") || strings.Contains(l, "restarting it") || strings.Contains(l, "fatal signal") {
					t.Log(l)
				}
			}
		})
	}
}

// TestIsolatedMaxRestartsHalt: with max_restarts 0 the first crash fails the plugin; with
// error_policy halt its last error names the plugin and the cause, the rest is counted as
// Undelivered.Failed, and the child is gone.
func TestIsolatedMaxRestartsHalt(t *testing.T) {
	lib := ctest.FaultyPlugin(t, false)
	dir := t.TempDir()
	out, marker := filepath.Join(dir, "out.txt"), filepath.Join(dir, "marker")
	cfg := writeConfig(t, dir, "faulty.json5", fmt.Sprintf(`{libpath: %q, isolation: "process", max_restarts: 0,
		error_policy: "halt", out: %q, marker: %q, fault: "segv", at: 10, allow_insecure: true}`, lib, out, marker))
	var buf syncBuffer
	m := host.NewManager(host.WithLogger(testLogger(&buf)))
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	for h := uint32(1); h <= 30; h++ {
		if err := m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: h}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	infos := m.Shutdown()
	noChildren(t)
	p := infos[0]
	if p.State != host.StateFailed || p.Counters.Restarts != 0 {
		t.Errorf("state %s restarts %d; want failed 0", p.State, p.Counters.Restarts)
	}
	if !strings.Contains(p.Counters.LastError, `plugin "faulty"`) || !strings.Contains(p.Counters.LastError, "signal SIGSEGV") {
		t.Errorf("last error %q: want the plugin's name and the signal", p.Counters.LastError)
	}
	c := p.Counters
	if c.Events+c.Undelivered.Failed != 30 || c.Undelivered.Failed == 0 {
		t.Errorf("events %d + failed %d; want 30 in all, some failed", c.Events, c.Undelivered.Failed)
	}
	if got := heightsOf(t, ctest.ReadLines(t, out)); len(got) != 9 {
		t.Errorf("record: %v; want heights 1..9", got)
	}
	if !strings.Contains(buf.String(), "the plugin is failed") {
		t.Errorf("log lacks the failure:\n%s", buf.String())
	}
}

// TestIsolatedRecorder: a plugin in a child process gets the same calls as in process:
// its config through config_get and config_json, every event's bytes, host->log lines
// relayed with its name, a reload (is_reload set), on_unload's error-level line as the
// unload error, destroy and the library's close.
func TestIsolatedRecorder(t *testing.T) {
	lib := recorder(t, "recorder_iso")
	for _, isolation := range []string{"none", "process"} {
		t.Run(isolation, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.txt")
			cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf(`{libpath: %q, isolation: %q, delivery: "async", out: %q,
				fail_every: 7, unload_error: "flush failed", allow_insecure: true}`, lib, isolation, out))
			var buf syncBuffer
			m := host.NewManager(host.WithLogger(testLogger(&buf)))
			name, err := m.LoadPlugin(cfg)
			if err != nil {
				t.Fatal(err)
			}
			evs := blockEvents(1, 2, 3, 4, 5)
			evs = append(evs, abi.Event{Kind: abi.StakingReward, BlockHeight: 6, Staker: []byte("st"), Validator: []byte("va"), Reward: 7, NewStake: 8},
				abi.Event{Kind: abi.MappingRemoval, BlockHeight: 6, ProgramID: []byte{9}, MappingName: []byte{10}})
			if err := m.BroadcastBatch(evs); err != nil {
				t.Fatal(err)
			}
			if err := m.ReloadPlugin(name, ""); err != nil {
				t.Fatal(err)
			}
			for _, ev := range blockEvents(7, 8) {
				if err := m.Broadcast(ev); err != nil {
					t.Fatal(err)
				}
			}
			infos := m.Shutdown()
			noChildren(t)
			lines := ctest.ReadLines(t, out)
			want := []string{"load reload=0", "subscribed", "resume 0"}
			for _, l := range lines {
				if strings.HasPrefix(l, "ev ") {
					want = append(want, l)
				}
			}
			got := only(lines, "load", "subscribed", "resume", "ev ", "unload", "destroy", "fini")
			if len(got) < 3 || !strings.HasPrefix(got[0], want[0]) {
				t.Fatalf("record: %q", got)
			}
			if n := len(only(lines, "ev ")); n != len(evs)+4 {
				t.Errorf("%d events recorded, want %d", n, len(evs)+4)
			}
			if n := len(only(lines, "load reload=1")); n != 1 {
				t.Errorf("%d reload lines, want 1: %q", n, lines)
			}
			if n := len(only(lines, "unload", "destroy", "fini")); n != 6 {
				t.Errorf("unload/destroy/fini lines: %d, want 6: %q", n, lines)
			}
			c := infos[0].Counters
			if c.Events != uint64(len(evs)+4) || c.Errors != 1 || c.Reloads != 1 || c.Calls != uint64(len(evs)+4) {
				t.Errorf("counters events %d errors %d reloads %d calls %d", c.Events, c.Errors, c.Reloads, c.Calls)
			}
			if !strings.Contains(infos[0].UnloadError, "flush failed") {
				t.Errorf("unload error %q", infos[0].UnloadError)
			}
			if !strings.Contains(buf.String(), `"plugin":"recorder","message":"recorder loaded"`) &&
				!strings.Contains(buf.String(), `"message":"recorder loaded"`) {
				t.Errorf("host->log line not relayed:\n%s", buf.String())
			}
			if c.Latency.Count == 0 {
				t.Errorf("no latency recorded")
			}
		})
	}
}

// TestIsolatedLoadErrors: a plugin whose on_load fails in the child fails the load with
// the same typed error as in process, and no child is left.
func TestIsolatedLoadErrors(t *testing.T) {
	lib := recorder(t, "recorder_iso")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf(`{libpath: %q, isolation: "process", out: %q, fail_load: "no database",
		allow_insecure: true}`, lib, filepath.Join(dir, "out.txt")))
	m := host.NewManager(host.WithLogger(testLogger(&syncBuffer{})))
	defer m.Unload()
	_, err := m.LoadPlugin(cfg)
	var le *host.LoadError
	if !errors.As(err, &le) || !errors.Is(err, host.ErrOnLoad) || !strings.Contains(err.Error(), "no database") || le.Config != cfg {
		t.Errorf("err = %v; want a *LoadError naming the config, matching ErrOnLoad, with the plugin's message", err)
	}
	noChildren(t)
	if len(m.ListPlugins()) != 0 {
		t.Errorf("plugins: %v", m.ListPlugins())
	}
}

// TestIsolatedCatchUp: an isolated plugin (the recorder in a child process) that loads with
// a resume height behind a journal of heights 1 to 300 catches up from the journal as in
// process: its record holds every height from its resume height on exactly once, in
// order, the journaled ones and the live ones broadcast after the switch.
func TestIsolatedCatchUp(t *testing.T) {
	const journaled, resume, live = 300, 10, 20
	dir := t.TempDir()
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(filepath.Join(dir, "journal")))
	defer m.Unload()
	for h := uint32(1); h <= journaled; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf(`{libpath: 'librec.so', out: %q, resume: %d, isolation: "process"}`, out, resume))
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	for h := uint32(journaled + 1); h <= journaled+live; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	infos := m.Shutdown()
	got := recorderHeights(t, out)
	wantEachHeight(t, got, resume, journaled+live)
	if c := infos[0].Counters; c.Events != uint64(len(got)) || c.Dropped != 0 || c.GapHeights != 0 {
		t.Errorf("counters: events %d dropped %d gaps %d; want %d, 0, 0", c.Events, c.Dropped, c.GapHeights, len(got))
	}
	if infos[0].Position != journaled+live || infos[0].Isolation != host.IsolationProcess {
		t.Errorf("position %d isolation %v, want %d and process", infos[0].Position, infos[0].Isolation, journaled+live)
	}
}

// TestIsolatedRestartRefeed: a restarted child that resumes below what it acknowledged
// (the faulty plugin, crashing at height 30, comes back having lost its last 10 heights)
// is fed those heights from the journal before the round it died in: the plugin's record
// holds every height exactly once. Without the journal they would be lost.
func TestIsolatedRestartRefeed(t *testing.T) {
	const heights, at, lose = 60, 30, 10
	lib := ctest.FaultyPlugin(t, false)
	dir := t.TempDir()
	out, marker := filepath.Join(dir, "out.txt"), filepath.Join(dir, "marker")
	cfg := writeConfig(t, dir, "faulty.json5", fmt.Sprintf(`{libpath: %q, isolation: "process", out: %q, marker: %q,
		fault: "segv", at: %d, lose: %d, allow_insecure: true}`, lib, out, marker, at, lose))
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(filepath.Join(dir, "journal")))
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	for h := uint32(1); h <= heights; h++ {
		if err := m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: h, Block: []byte{byte(h)}}); err != nil {
			t.Fatal(err)
		}
		flush(t, m) // a round per height: the round the child dies in holds height 30 alone
	}
	infos := m.Shutdown()
	var got []uint32
	for _, l := range ctest.ReadLines(t, out) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "ev" {
			h, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, uint32(h))
		}
	}
	want := make([]uint32, 0, heights)
	for h := uint32(1); h <= heights; h++ {
		want = append(want, h)
	}
	if !slices.Equal(got, want) {
		t.Errorf("record heights %v, want 1 to %d exactly once, in order", got, heights)
	}
	if !slices.Contains(ctest.ReadLines(t, out), fmt.Sprintf("load resume=%d", at-lose)) {
		t.Errorf("the restarted plugin did not resume at %d (it lost its last %d heights)", at-lose, lose)
	}
	if c := infos[0].Counters; c.Restarts != 1 || c.Events != heights {
		t.Errorf("restarts %d events %d, want 1 and %d", c.Restarts, c.Events, heights)
	}
}

// TestIsolationForced: WithIsolation loads a plugin whose config says nothing of isolation
// in a child process; one that crashes while loading fails with a *ChildError naming the
// signal and the stage, and a load that WithChildContext's context stops fails with one
// whose Stopped is set, the child killed.
func TestIsolationForced(t *testing.T) {
	dir := t.TempDir()
	lib := ctest.Plugin(t, "crash", "testdata/plugins/crash.c")
	crash := writeConfig(t, dir, "crash.json5", fmt.Sprintf("{libpath: %q, allow_insecure: true}", lib))
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithIsolation(host.IsolationProcess))
	defer m.Unload()
	_, err := m.LoadPlugin(crash)
	var ce *host.ChildError
	// A crash is a signal on Unix and an exception code as exit status on Windows.
	crashed := func(ce *host.ChildError) bool { return ce.Signal == "SIGSEGV" }
	if runtime.GOOS == "windows" {
		crashed = func(ce *host.ChildError) bool { return uint32(ce.ExitCode) == 0xC0000005 }
	}
	if !errors.As(err, &ce) || !errors.Is(err, host.ErrChildProcess) || !crashed(ce) || ce.Stage != "loading" {
		t.Fatalf("LoadPlugin = %v (%+v), want a *ChildError: a crash (SIGSEGV, or access violation on Windows) while loading", err, ce)
	}

	copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q}", out))
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	if info, _ := m.Plugin("recorder"); info.Isolation != host.IsolationProcess || info.Path == "" {
		t.Errorf("info: isolation %v path %q, want process and the library", info.Isolation, info.Path)
	}
	if err := m.UnloadPlugin("recorder"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m2 := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithIsolation(host.IsolationProcess), host.WithChildContext(ctx))
	defer m2.Unload()
	_, err = m2.LoadPlugin(cfg)
	if !errors.As(err, &ce) || !ce.Stopped {
		t.Fatalf("LoadPlugin with an ended context = %v, want a *ChildError with Stopped", err)
	}
	noChildren(t)
}
