package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

func TestErrorPolicies(t *testing.T) {
	tests := []struct {
		name       string
		extra      string
		wantHalt   bool
		wantErrors uint64
		wantEvents uint64
		wantState  host.State
	}{
		// Every event fails; log: all 10 delivered, 10 errors, nothing returned.
		{name: "log", extra: "fail_every: 1", wantErrors: 10, wantEvents: 10, wantState: host.StateActive},
		// disable after 3 in a row: 3 delivered, then nothing.
		{name: "disable", extra: "fail_every: 1, error_policy: 'disable', max_consecutive_errors: 3", wantErrors: 3, wantEvents: 3, wantState: host.StateDisabled},
		// a success in between resets the count: every 2nd fails, never 2 in a row.
		{name: "disable_reset", extra: "fail_every: 2, error_policy: 'disable', max_consecutive_errors: 2", wantErrors: 5, wantEvents: 10, wantState: host.StateActive},
		{name: "halt", extra: "fail_every: 1, error_policy: 'halt'", wantHalt: true, wantErrors: 10, wantEvents: 10, wantState: host.StateFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := recorderSetup(t, "recorder", tc.extra)
			var logs syncBuffer
			m := host.NewManager(host.WithLogger(testLogger(&logs)))
			defer m.Unload()
			if _, err := m.LoadPlugin(cfg); err != nil {
				t.Fatal(err)
			}
			var halts int
			for i := 0; i < 10; i++ {
				err := m.Broadcast(evBlock)
				if err != nil {
					halts++
					var ce *host.CallbackError
					if !errors.Is(err, host.ErrHalted) || !errors.As(err, &ce) || ce.Plugin != "recorder" || !strings.Contains(ce.Message, "fails on purpose") {
						t.Fatalf("Broadcast error %v is not a halt CallbackError", err)
					}
				}
			}
			if tc.wantHalt != (halts == 10) || (!tc.wantHalt && halts != 0) {
				t.Errorf("halt errors returned %d times", halts)
			}
			info, _ := m.Plugin("recorder")
			if info.Counters.Errors != tc.wantErrors || info.Counters.Events != tc.wantEvents || info.State != tc.wantState {
				t.Errorf("errors %d events %d state %s; want %d %d %s", info.Counters.Errors, info.Counters.Events, info.State,
					tc.wantErrors, tc.wantEvents, tc.wantState)
			}
			if !strings.Contains(logs.String(), "fails on purpose") || !strings.Contains(logs.String(), `"plugin":"recorder"`) {
				t.Errorf("failure not logged with the plugin's name: %s", logs.String())
			}
		})
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	_ = lib
	out := filepath.Join(dir, "out.txt")
	out2 := filepath.Join(dir, "out2.txt")
	first := writeConfig(t, dir, "a.json5", fmt.Sprintf("{libpath: 'librec.so', name: 'rec', out: %q, events: 8}", out))
	second := writeConfig(t, dir, "b.json5", fmt.Sprintf("{libpath: 'librec.so', name: 'rec', out: %q}", out2))
	broken := writeConfig(t, dir, "c.json5", fmt.Sprintf("{libpath: 'librec.so', name: 'rec', out: %q, fail_load: 'nope'}", out2))
	unreadable := filepath.Join(dir, "missing.json5")

	m := host.NewManager()
	defer m.Unload()
	if _, err := m.LoadPlugin(first); err != nil {
		t.Fatal(err)
	}
	if m.HasSubscribers(abi.MappingUpdate) {
		t.Fatal("first config subscribes to Block only")
	}
	if err := m.ReloadPlugin("rec", second); err != nil {
		t.Fatal(err)
	}
	if !m.HasSubscribers(abi.MappingUpdate) {
		t.Error("subscriptions not read again after reload")
	}
	if got := ctest.ReadLines(t, out2); !strings.HasPrefix(got[0], "load reload=1 file="+second) {
		t.Errorf("reload did not call on_load with is_reload=1: %v", got)
	}
	if got := ctest.ReadLines(t, out); !slices.Equal(got[len(got)-3:], []string{"unload", "destroy", "fini"}) {
		t.Errorf("old instance not shut down before the new one: %v", got)
	}

	// A config that cannot be read leaves the loaded plugin untouched.
	if err := m.ReloadPlugin("rec", unreadable); !errors.Is(err, host.ErrConfigRead) {
		t.Errorf("reload with a missing config: %v", err)
	}
	// A new config whose on_load fails: the old config is loaded again, the error returned.
	if err := m.ReloadPlugin("rec", broken); !errors.Is(err, host.ErrOnLoad) {
		t.Fatalf("reload with a failing config: %v", err)
	}
	info, ok := m.Plugin("rec")
	if !ok || info.ConfigFile != second {
		t.Fatalf("after a failed reload the old config must be back: %+v", info)
	}
	if err := m.Broadcast(evBlock); err != nil {
		t.Fatal(err)
	}
	if got := only(ctest.ReadLines(t, out2), "ev "); !slices.Equal(got, []string{"ev 3 7 dead"}) {
		t.Errorf("restored plugin did not receive: %v", got)
	}
	if err := m.ReloadPlugin("ghost", ""); !errors.Is(err, host.ErrNotLoaded) {
		t.Errorf("reload unknown: %v", err)
	}
}

func TestLogFromPluginThread(t *testing.T) {
	cfg, _ := recorderSetup(t, "recorder", "log_thread: true")
	var logs syncBuffer
	m := host.NewManager(host.WithLogger(testLogger(&logs)))
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"plugin":"recorder","message":"hello from a plugin thread"`) {
		t.Errorf("log from a plugin thread missing: %s", logs.String())
	}
}

// goPlugin is a Go-native plugin recording what it receives.
type goPlugin struct {
	name    string
	mask    abi.EventMask
	loadErr error
	fail    bool
	panics  bool

	mu       sync.Mutex
	events   []abi.Event
	loads    []bool
	unloaded int
}

func (p *goPlugin) Name() string { return p.name }
func (p *goPlugin) OnLoad(_ string, isReload bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loads = append(p.loads, isReload)
	return p.loadErr
}
func (p *goPlugin) OnUnload()                       { p.mu.Lock(); p.unloaded++; p.mu.Unlock() }
func (p *goPlugin) SubscribedEvents() abi.EventMask { return p.mask }
func (p *goPlugin) OnBroadcast(ev abi.Event) error {
	if p.panics {
		panic("boom")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ev.Block = slices.Clone(ev.Block) // borrowed bytes: copy what we keep
	p.events = append(p.events, ev)
	if p.fail {
		return errors.New("go plugin failed")
	}
	return nil
}

func TestRegisterGoPlugin(t *testing.T) {
	m := host.NewManager()
	defer m.Unload()
	p := &goPlugin{name: "gp", mask: abi.Mask(abi.Block)}
	if name, err := m.Register(p, ""); err != nil || name != "gp" {
		t.Fatalf("Register = %q, %v", name, err)
	}
	if _, err := m.Register(&goPlugin{name: "gp"}, ""); !errors.Is(err, host.ErrAlreadyLoaded) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := m.Register(&goPlugin{name: "bad", loadErr: errors.New("no db")}, ""); !errors.Is(err, host.ErrOnLoad) || !strings.Contains(err.Error(), "no db") {
		t.Errorf("failing OnLoad: %v", err)
	}
	panicky := &goPlugin{name: "panicky", mask: abi.MaskAll, panics: true}
	if _, err := m.Register(panicky, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.BroadcastBatch(allEvents); err != nil {
		t.Fatal(err)
	}
	if len(p.events) != 1 || p.events[0].Kind != abi.Block || string(p.events[0].Block) != "\xde\xad" {
		t.Errorf("events %+v", p.events)
	}
	if info, _ := m.Plugin("panicky"); info.Counters.Errors != 5 || !strings.Contains(info.Counters.LastError, "panic: boom") {
		t.Errorf("panics not turned into errors: %+v", info.Counters)
	}
	if err := m.ReloadPlugin("gp", ""); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.loads, []bool{false, true}) || p.unloaded != 1 {
		t.Errorf("loads %v unloaded %d", p.loads, p.unloaded)
	}
	// A reload keeps the plugin's place in the order (issue 18.10; it used to move to the end).
	if got := m.ListPlugins(); !slices.Equal(got, []string{"gp", "panicky"}) {
		t.Errorf("ListPlugins %v", got)
	}
}

func TestAsyncDelivery(t *testing.T) {
	t.Run("order_kept", func(t *testing.T) {
		cfg, out := recorderSetup(t, "recorder_batch", "delivery: 'async', queue_capacity: 16", "-DRECORDER_BATCH")
		m := host.NewManager()
		if _, err := m.LoadPlugin(cfg); err != nil {
			t.Fatal(err)
		}
		var want []string
		buf := make([]byte, 4)
		for i := 0; i < 500; i++ {
			// The node reuses its buffer: the queue must own its copy.
			copy(buf, fmt.Sprintf("%04d", i))
			ev := abi.Event{Kind: abi.Block, BlockHeight: uint32(i), Block: buf}
			m.Broadcast(ev)
			want = append(want, fmt.Sprintf("ev 3 %d %s", i, hex.EncodeToString(buf)))
		}
		infos := m.Shutdown() // drains the queue before on_unload
		if len(infos) != 1 || infos[0].Counters.Events != 500 || infos[0].Counters.QueueDepth != 0 {
			t.Errorf("final counters after Shutdown: %+v", infos)
		}
		got := ctest.ReadLines(t, out)
		if evs := only(got, "ev "); !slices.Equal(evs, want) {
			t.Fatalf("async delivery lost or reordered events: got %d, want %d", len(evs), len(want))
		}
		if !slices.Equal(got[len(got)-3:], []string{"unload", "destroy", "fini"}) {
			t.Errorf("tail %v", got[len(got)-3:])
		}
	})
	t.Run("drop_does_not_block", func(t *testing.T) {
		cfg, _ := recorderSetup(t, "recorder", "delivery: 'async', queue_capacity: 4, on_full: 'drop', sleep_us: 20000")
		m := host.NewManager()
		if _, err := m.LoadPlugin(cfg); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for i := 0; i < 100; i++ {
			m.Broadcast(evBlock)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("100 broadcasts to a 20ms/event async+drop plugin took %v: finalization was slowed", d)
		}
		info, _ := m.Plugin("recorder")
		m.Unload()
		if info.Counters.Dropped == 0 {
			t.Errorf("nothing dropped: %+v", info.Counters)
		}
	})
}

// TestSyncIsSlowedBySlowPlugin is the counterpart of drop_does_not_block: with sync
// delivery a slow plugin is on the finalization path (each broadcast waits for it).
func TestSyncIsSlowedBySlowPlugin(t *testing.T) {
	cfg, _ := recorderSetup(t, "recorder", "sleep_us: 5000")
	m := host.NewManager()
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 20; i++ {
		m.Broadcast(evBlock)
	}
	if d := time.Since(start); d < 20*5*time.Millisecond {
		t.Errorf("20 sync broadcasts to a 5ms/event plugin took only %v", d)
	}
}

func TestAsyncDrainTimeout(t *testing.T) {
	cfg, out := recorderSetup(t, "recorder", "delivery: 'async', sleep_us: 50000, drain_timeout: '100ms'")
	var logs syncBuffer
	loadBroadcast(t, cfg, 40, host.WithLogger(testLogger(&logs))).Unload()
	got := ctest.ReadLines(t, out)
	delivered := len(only(got, "ev "))
	if delivered == 40 || !slices.Equal(got[len(got)-3:], []string{"unload", "destroy", "fini"}) {
		t.Errorf("delivered %d of 40 with a 100ms drain timeout at 50ms/event; tail %v", delivered, got[len(got)-3:])
	}
	if !strings.Contains(logs.String(), "not drained in time") || !strings.Contains(logs.String(), `"events_left":`) {
		t.Errorf("drain timeout not logged with the events left: %s", logs.String())
	}
}

func TestInsecureAndHash(t *testing.T) {
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	data, _ := os.ReadFile(lib)
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	out := filepath.Join(dir, "out.txt")
	conf := func(name, extra string) string {
		return writeConfig(t, dir, name, fmt.Sprintf("{libpath: 'librec.so', out: %q, %s}", out, extra))
	}
	m := host.NewManager()
	defer m.Unload()

	if _, err := m.LoadPlugin(conf("bad.json5", "sha256: '"+strings.Repeat("0", 64)+"'")); !errors.Is(err, host.ErrHashMismatch) {
		t.Errorf("wrong hash: %v", err)
	}
	if _, err := m.LoadPlugin(conf("good.json5", "sha256: '"+good+"'")); err != nil {
		t.Errorf("right hash: %v", err)
	}
	m.UnloadPlugin("recorder")
	if runtime.GOOS == "windows" {
		return // no mode bits: Windows relies on the folder's ACL (TestWindowsNoPermissionCheck)
	}

	os.Chmod(lib, 0o777)
	if _, err := m.LoadPlugin(conf("w.json5", "")); !errors.Is(err, host.ErrInsecure) || !strings.Contains(err.Error(), "librec.so") {
		t.Errorf("world-writable library: %v", err)
	}
	if _, err := m.LoadPlugin(conf("ok.json5", "allow_insecure: true")); err != nil {
		t.Errorf("allow_insecure: %v", err)
	}
	m.UnloadPlugin("recorder")
	os.Chmod(lib, 0o755)
	cw := conf("cw.json5", "")
	os.Chmod(cw, 0o666)
	if _, err := m.LoadPlugin(cw); !errors.Is(err, host.ErrInsecure) || !strings.Contains(err.Error(), "cw.json5") {
		t.Errorf("group-writable config: %v", err)
	}
}

// TestHammer broadcasts from 8 goroutines while another loads, reloads and unloads the
// plugin: no call may reach an unloaded instance (the recorder would crash on a freed
// instance or write after "destroy"), and the counters add up.
func TestHammer(t *testing.T) {
	cfg, out := recorderSetup(t, "recorder_batch", "", "-DRECORDER_BATCH")
	m := host.NewManager()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var sent atomic.Uint64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				m.BroadcastBatch(allEvents[:2])
				sent.Add(1)
				// With no plugin loaded a broadcast returns at once: yield, or 8 spinning
				// goroutines on 2 cores starve the one that loads and unloads.
				runtime.Gosched()
			}
		}()
	}
	iterations := 1000
	if testing.Short() {
		iterations = 100
	}
	for i := 0; i < iterations; i++ {
		if _, err := m.LoadPlugin(cfg); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := m.ReloadPlugin("recorder", ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.UnloadPlugin("recorder"); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	m.Unload()
	// Between a "destroy" and the next "load" no line may appear.
	dead := false
	delivered := 0
	for _, l := range ctest.ReadLines(t, out) {
		if strings.HasPrefix(l, "ev ") {
			delivered++
		}
		switch {
		case l == "destroy" || l == "fini":
			dead = true
		case strings.HasPrefix(l, "load "):
			dead = false
		case dead:
			t.Fatalf("%q recorded after destroy: a call reached an unloaded plugin", l)
		}
	}
	if sent.Load() == 0 || delivered == 0 {
		t.Errorf("%d broadcasts, %d events delivered: the hammer did not hammer", sent.Load(), delivered)
	}
}
