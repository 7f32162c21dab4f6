package host_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// wantEachHeight checks that got (a height per event, two events per height as blockEvents
// makes them) holds every height from first to last exactly once, in order.
func wantEachHeight(t *testing.T, got []uint32, first, last uint32) {
	t.Helper()
	if want := 2 * int(last-first+1); len(got) != want {
		t.Errorf("%d events, want %d (heights %d to %d, two each)", len(got), want, first, last)
	}
	for i, h := range got {
		if want := first + uint32(i/2); h != want {
			t.Fatalf("event %d is at height %d, want %d: heights around it %v", i, h, want, got[max(i-4, 0):min(i+4, len(got))])
		}
	}
}

// broadcaster broadcasts a block per call, heights from next on, until stopped.
type broadcaster struct {
	m    *host.Manager
	next atomic.Uint32
	stop chan struct{}
	done chan struct{}
	err  error
}

func (b *broadcaster) one(t testing.TB) {
	h := b.next.Add(1) - 1
	if err := b.m.BroadcastBatch(blockEvents(h)); err != nil {
		t.Fatal(err)
	}
}

func (b *broadcaster) start() {
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			h := b.next.Add(1) - 1
			if err := b.m.BroadcastBatch(blockEvents(h)); err != nil {
				b.err = err
				return
			}
		}
	}()
}

// halt stops the broadcaster and returns the last height it broadcast.
func (b *broadcaster) halt(t testing.TB) uint32 {
	close(b.stop)
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.next.Load() - 1
}

// recorderHeights reads the heights of the "ev" lines a recorder wrote.
func recorderHeights(t *testing.T, out string) []uint32 {
	t.Helper()
	var hs []uint32
	for _, l := range ctest.ReadLines(t, out) {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "ev" {
			h, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, uint32(h))
		}
	}
	return hs
}

// TestJournalCatchUp: a plugin loaded with a resume height 10,000 blocks behind, while a
// broadcaster sends without pause, gets every height from its resume height on exactly
// once and in order; a plugin without a position, loaded beside it, gets the live events
// meanwhile (delivery to it does not wait for the catch-up). Go and C, sync and async.
func TestJournalCatchUp(t *testing.T) {
	const behind = 10_000
	for _, kind := range []string{"go", "recorder", "recorder_batch"} {
		for _, delivery := range []string{"sync", "async"} {
			t.Run(kind+"_"+delivery, func(t *testing.T) {
				dir := t.TempDir()
				// A window the broadcaster cannot outrun during the test: a plugin slower than
				// the node (the C recorder flushes a line per event) must still catch up, not
				// fall out of the window (that is a counted gap, TestJournalGap).
				m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(filepath.Join(dir, "journal"),
					host.JournalRetainBlocks(math.MaxUint32), host.JournalRetainBytes(math.MaxInt64)))
				defer m.Unload()
				live := &countPlugin{name: "live"}
				if _, err := m.Register(live, ""); err != nil {
					t.Fatal(err)
				}
				b := &broadcaster{m: m}
				b.next.Store(1)
				for range behind + 9 {
					b.one(t)
				}
				b.start()
				const resume = 10
				var p *heightsPlugin
				var out string
				if kind == "go" {
					p = &heightsPlugin{resume: resume}
					if _, err := m.Register(p, writeConfig(t, dir, "h.json5", fmt.Sprintf("{delivery: %q}", delivery))); err != nil {
						t.Fatal(err)
					}
				} else {
					var defines []string
					if kind == "recorder_batch" {
						defines = []string{"-DRECORDER_BATCH"}
					}
					copyLib(t, recorder(t, kind, defines...), dir, "librec.so")
					out = filepath.Join(dir, "out.txt")
					cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q, resume: %d, delivery: %q}", out, resume, delivery))
					if _, err := m.LoadPlugin(cfg); err != nil {
						t.Fatal(err)
					}
				}
				liveAtLoad, loadedAt := live.n.Load(), time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := m.Flush(ctx); err != nil { // waits for the catch-up
					t.Fatal(err)
				}
				// A catch-up of some length must not have held the other plugin up (a very
				// quick one may end before the broadcaster's next block: nothing to see then).
				if took := time.Since(loadedAt); live.n.Load() == liveAtLoad && took > 100*time.Millisecond {
					t.Errorf("the plugin without a position got nothing during the %v the other took to catch up", took)
				}
				time.Sleep(20 * time.Millisecond) // live delivery goes on after the switch
				last := b.halt(t)
				infos := m.Shutdown()
				var got []uint32
				if p != nil {
					got = p.heights
				} else {
					got = recorderHeights(t, out)
				}
				wantEachHeight(t, got, resume, last)
				if c := infos[1].Counters; c.Events != uint64(len(got)) || c.Dropped != 0 || c.GapHeights != 0 {
					t.Errorf("counters: events %d dropped %d gaps %d; want %d, 0, 0", c.Events, c.Dropped, c.GapHeights, len(got))
				}
				if live.n.Load() != 2*uint64(last) {
					t.Errorf("the live plugin got %d events, want %d", live.n.Load(), 2*last)
				}
				if infos[1].Position != uint64(last) || infos[1].Lag != 0 {
					t.Errorf("position %d lag %d, want %d and 0", infos[1].Position, infos[1].Lag, last)
				}
			})
		}
	}
}

// countPlugin counts the events it gets; it keeps no position.
type countPlugin struct {
	name string
	n    atomic.Uint64
}

func (p *countPlugin) Name() string                    { return p.name }
func (p *countPlugin) OnLoad(string, bool) error       { return nil }
func (p *countPlugin) OnUnload()                       {}
func (p *countPlugin) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (p *countPlugin) OnBroadcast(abi.Event) error     { p.n.Add(1); return nil }

// TestJournalReFinalize: a node restarted on its journal re-finalizes the last heights it
// journaled; a plugin whose position is behind gets every height once, a plugin without a
// position gets what is broadcast.
func TestJournalReFinalize(t *testing.T) {
	dir := t.TempDir()
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
	for h := uint32(1); h <= 100; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	m.Unload()
	m = host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
	defer m.Unload()
	p := &heightsPlugin{resume: 40}
	live := &countPlugin{name: "live"}
	for _, pl := range []host.Plugin{p, live} {
		if _, err := m.Register(pl, ""); err != nil {
			t.Fatal(err)
		}
	}
	for h := uint32(95); h <= 120; h++ { // 95..100 again
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, m)
	infos := m.Shutdown()
	wantEachHeight(t, p.heights, 40, 120)
	if live.n.Load() != 2*26 {
		t.Errorf("the plugin without a position got %d events, want 52 (heights 95 to 120)", live.n.Load())
	}
	if ji, ok := m.JournalInfo(); !ok || ji.First != 1 || ji.Last != 120 || ji.Bytes == 0 {
		t.Errorf("journal info %+v, %v; want heights 1 to 120", ji, ok)
	}
	if infos[0].Position != 120 {
		t.Errorf("position %d, want 120", infos[0].Position)
	}
}

// TestJournalGap: a resume height older than the journal's window is logged with the gap
// and counted; the plugin gets the window.
func TestJournalGap(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	m := host.NewManager(host.WithLogger(testLogger(&logs)), host.WithJournal(dir, host.JournalRetainBlocks(80)))
	defer m.Unload()
	for h := uint32(1); h <= 1000; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	ji, _ := m.JournalInfo()
	if ji.First <= 10 || ji.Last != 1000 {
		t.Fatalf("window %+v, want retention to have moved it", ji)
	}
	p := &heightsPlugin{resume: 10}
	if _, err := m.Register(p, ""); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	infos := m.Shutdown()
	wantEachHeight(t, p.heights, ji.First, 1000)
	if c := infos[0].Counters; c.GapHeights != uint64(ji.First-10) {
		t.Errorf("gap heights %d, want %d", c.GapHeights, ji.First-10)
	}
	want := fmt.Sprintf(`"first_missing":10,"last_missing":%d`, ji.First-1)
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), `"plugin":"heights"`) {
		t.Errorf("log lacks the gap %s with the plugin's name:\n%s", want, logs.String())
	}
}

// TestJournalReload: a plugin unloaded at one height and loaded again later, reloaded, or
// re-enabled by a reload, gets what it missed from its position on; a plugin without a
// position gets only live events.
func TestJournalReload(t *testing.T) {
	dir := t.TempDir()
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
	defer m.Unload()
	send := func(from, to uint32) {
		for h := from; h <= to; h++ {
			if err := m.BroadcastBatch(blockEvents(h)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := &positionPlugin{}
	live := &countPlugin{name: "live"}
	cfg := writeConfig(t, dir, "p.json5", "{error_policy: 'disable', max_consecutive_errors: 3}")
	send(1, 10)
	if _, err := m.Register(p, cfg); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	if _, err := m.Register(live, ""); err != nil {
		t.Fatal(err)
	}
	send(11, 20)
	if err := m.UnloadPlugin("position"); err != nil {
		t.Fatal(err)
	}
	send(21, 30)
	if _, err := m.Register(p, cfg); err != nil {
		t.Fatal(err)
	}
	flush(t, m)
	send(31, 40)
	p.fail.Store(true) // disabled after 3 failures in a row: heights 41 and 42 fail, the rest is not delivered
	send(41, 50)
	p.fail.Store(false)
	if pi, _ := m.Plugin("position"); pi.State != host.StateDisabled {
		t.Fatalf("state %s, want disabled", pi.State)
	}
	if err := m.ReloadPlugin("position", ""); err != nil {
		t.Fatal(err)
	}
	send(51, 60)
	flush(t, m)
	infos := m.Shutdown()
	wantEachHeight(t, p.stored, 1, 60)
	if live.n.Load() != 2*50 {
		t.Errorf("the plugin without a position got %d events, want 100 (heights 11 to 60)", live.n.Load())
	}
	pi := infos[slices.IndexFunc(infos, func(pi host.PluginInfo) bool { return pi.Name == "position" })]
	if pi.Counters.Reloads != 1 || pi.State != host.StateActive || pi.Position != 60 {
		t.Errorf("reloads %d state %s position %d, want 1, active, 60", pi.Counters.Reloads, pi.State, pi.Position)
	}
}

// positionPlugin stores heights durably (in memory, across its loads): its resume height is
// the height after the last stored; a failing event is not stored.
type positionPlugin struct {
	fail   atomic.Bool
	mu     sync.Mutex
	stored []uint32
}

func (p *positionPlugin) Name() string                    { return "position" }
func (p *positionPlugin) OnLoad(string, bool) error       { return nil }
func (p *positionPlugin) OnUnload()                       {}
func (p *positionPlugin) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (p *positionPlugin) ResumeHeight() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.stored) == 0 {
		return 1, nil
	}
	h := p.stored[len(p.stored)-1]
	p.stored = slices.DeleteFunc(p.stored, func(x uint32) bool { return x == h }) // a height is stored whole or not at all
	return uint64(h), nil
}
func (p *positionPlugin) OnBroadcast(ev abi.Event) error {
	if p.fail.Load() {
		return fmt.Errorf("height %d: database down", ev.BlockHeight)
	}
	p.mu.Lock()
	p.stored = append(p.stored, ev.BlockHeight)
	p.mu.Unlock()
	return nil
}

// TestJournalUnloadStopsCatchUp: unloading a plugin while it catches up (slowly) stops the
// catch-up cleanly (TestMain checks for leaked goroutines).
func TestJournalUnloadStopsCatchUp(t *testing.T) {
	dir := t.TempDir()
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(dir))
	defer m.Unload()
	for h := uint32(1); h <= 2000; h++ {
		if err := m.BroadcastBatch(blockEvents(h)); err != nil {
			t.Fatal(err)
		}
	}
	p := &slowPlugin{}
	if _, err := m.Register(p, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := m.Flush(ctx); err != context.DeadlineExceeded {
		t.Errorf("Flush during a slow catch-up = %v, want it to wait (DeadlineExceeded)", err)
	}
	if err := m.UnloadPlugin("slow"); err != nil {
		t.Fatal(err)
	}
	if n := p.n.Load(); n == 0 || n >= 4000 {
		t.Errorf("the slow plugin got %d events before its unload, want some but not all", n)
	}
}

type slowPlugin struct{ n atomic.Uint64 }

func (p *slowPlugin) Name() string                    { return "slow" }
func (p *slowPlugin) OnLoad(string, bool) error       { return nil }
func (p *slowPlugin) OnUnload()                       {}
func (p *slowPlugin) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (p *slowPlugin) ResumeHeight() (uint64, error)   { return 1, nil }
func (p *slowPlugin) OnBroadcast(abi.Event) error {
	p.n.Add(1)
	time.Sleep(100 * time.Microsecond)
	return nil
}

// TestJournalUnavailable: a journal directory that cannot be opened fails every load with
// ErrJournal, naming the directory.
func TestJournalUnavailable(t *testing.T) {
	file := writeConfig(t, t.TempDir(), "not-a-dir", "x")
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(file))
	defer m.Unload()
	_, err := m.Register(&countPlugin{name: "c"}, "")
	if !errors.Is(err, host.ErrJournal) || !strings.Contains(err.Error(), file) {
		t.Fatalf("Register = %v, want ErrJournal naming %s", err, file)
	}
}

// flush waits for m's catch-ups and queues.
func flush(t *testing.T, m *host.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
