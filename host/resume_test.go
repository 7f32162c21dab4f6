package host_test

import (
	"errors"
	"fmt"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// heightsPlugin is a Go-native plugin with a resume height: it records the heights it gets.
type heightsPlugin struct {
	resume uint64
	err    error

	mu      sync.Mutex
	heights []uint32
	unloads int
}

func (p *heightsPlugin) Name() string                    { return "heights" }
func (p *heightsPlugin) OnLoad(string, bool) error       { return nil }
func (p *heightsPlugin) OnUnload()                       { p.mu.Lock(); p.unloads++; p.mu.Unlock() }
func (p *heightsPlugin) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (p *heightsPlugin) ResumeHeight() (uint64, error)   { return p.resume, p.err }
func (p *heightsPlugin) OnBroadcast(ev abi.Event) error {
	p.mu.Lock()
	p.heights = append(p.heights, ev.BlockHeight)
	p.mu.Unlock()
	return nil
}

// blockEvents returns, for each height, a mapping update and a Block event.
func blockEvents(heights ...uint32) []abi.Event {
	var evs []abi.Event
	for _, h := range heights {
		evs = append(evs,
			abi.Event{Kind: abi.MappingUpdate, BlockHeight: h, ProgramID: []byte{1}, MappingName: []byte{2}, Key: []byte{3}, Value: []byte{byte(h)}},
			abi.Event{Kind: abi.Block, BlockHeight: h, Block: []byte{byte(h)}})
	}
	return evs
}

// TestResumeHeightSkips: events below a plugin's resume height never reach it and are
// counted as skipped (not dropped); a batch that straddles the height delivers exactly its
// part at or above it, whole heights, in order. Go and C plugins, sync and async, one event
// at a time and in batches.
func TestResumeHeightSkips(t *testing.T) {
	const resume = 5
	// Heights 1..8 as: single events for 1-2, one straddling batch 3..6, one batch 7..8.
	broadcast := func(t *testing.T, m *host.Manager) {
		for _, ev := range blockEvents(1, 2) {
			if err := m.Broadcast(ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, evs := range [][]abi.Event{blockEvents(3, 4, 5, 6), blockEvents(7, 8)} {
			if err := m.BroadcastBatch(evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantHeights := []uint32{5, 5, 6, 6, 7, 7, 8, 8}
	for _, delivery := range []string{"sync", "async"} {
		t.Run("go_"+delivery, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, "h.json5", fmt.Sprintf("{delivery: %q}", delivery))
			p := &heightsPlugin{resume: resume}
			m := host.NewManager()
			defer m.Unload()
			if _, err := m.Register(p, cfg); err != nil {
				t.Fatal(err)
			}
			broadcast(t, m)
			infos := m.Shutdown()
			if !slices.Equal(p.heights, wantHeights) {
				t.Errorf("heights %v, want %v", p.heights, wantHeights)
			}
			c := infos[0].Counters
			if c.Skipped != 8 || c.Events != 8 || c.Dropped != 0 || infos[0].ResumeHeight != resume {
				t.Errorf("skipped %d events %d dropped %d resume %d; want 8, 8, 0, %d", c.Skipped, c.Events, c.Dropped, infos[0].ResumeHeight, resume)
			}
		})
		for _, variant := range []string{"recorder", "recorder_batch"} {
			t.Run(variant+"_"+delivery, func(t *testing.T) {
				var defines []string
				if variant == "recorder_batch" {
					defines = []string{"-DRECORDER_BATCH"}
				}
				dir := t.TempDir()
				copyLib(t, recorder(t, variant, defines...), dir, "librec.so")
				out := filepath.Join(dir, "out.txt")
				cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q, resume: %d, delivery: %q}", out, resume, delivery))
				m := host.NewManager()
				defer m.Unload()
				if _, err := m.LoadPlugin(cfg); err != nil {
					t.Fatal(err)
				}
				broadcast(t, m)
				infos := m.Shutdown()
				var got []string
				for _, l := range ctest.ReadLines(t, out) {
					if f := strings.Fields(l); len(f) > 2 && f[0] == "ev" {
						got = append(got, f[1]+"@"+f[2])
					}
				}
				want := []string{"0@5", "3@5", "0@6", "3@6", "0@7", "3@7", "0@8", "3@8"}
				if !slices.Equal(got, want) {
					t.Errorf("recorder saw %v, want %v", got, want)
				}
				if c := infos[0].Counters; c.Skipped != 8 || c.Events != 8 || c.Dropped != 0 {
					t.Errorf("skipped %d events %d dropped %d; want 8, 8, 0", c.Skipped, c.Events, c.Dropped)
				}
			})
		}
	}
}

// TestResumeHeightFailsLoad: a failing resume_height fails the load as on_load would: the
// error names it, on_unload and destroy run, nothing is registered.
func TestResumeHeightFailsLoad(t *testing.T) {
	t.Run("c", func(t *testing.T) {
		dir := t.TempDir()
		copyLib(t, recorder(t, "recorder"), dir, "librec.so")
		out := filepath.Join(dir, "out.txt")
		cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q, fail_resume: 'position table unreadable'}", out))
		m := host.NewManager()
		defer m.Unload()
		_, err := m.LoadPlugin(cfg)
		if !errors.Is(err, host.ErrResumeHeight) || !strings.Contains(err.Error(), "position table unreadable") {
			t.Fatalf("err = %v, want ErrResumeHeight with the plugin's message", err)
		}
		if len(m.ListPlugins()) != 0 {
			t.Errorf("plugins %v registered after a failed load", m.ListPlugins())
		}
		got := ctest.ReadLines(t, out)
		if !slices.Equal(got[len(got)-3:], []string{"unload", "destroy", "fini"}) {
			t.Errorf("recorder saw %q, want on_unload, destroy and the library closed", got)
		}
	})
	t.Run("go", func(t *testing.T) {
		p := &heightsPlugin{err: errors.New("no position")}
		m := host.NewManager()
		defer m.Unload()
		_, err := m.Register(p, "")
		if !errors.Is(err, host.ErrResumeHeight) || p.unloads != 1 || len(m.ListPlugins()) != 0 {
			t.Fatalf("err = %v, unloads %d, plugins %v; want ErrResumeHeight, 1, none", err, p.unloads, m.ListPlugins())
		}
	})
}
