package e2e_test

import (
	"sync/atomic"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// goSummer is the Go-native counterpart of noop.c -DNOOP_SUM and the Rust summer plugin:
// it adds up every byte of every event.
type goSummer struct{ sum atomic.Uint64 }

func (*goSummer) Name() string                    { return "summer" }
func (*goSummer) OnLoad(string, bool) error       { return nil }
func (*goSummer) OnUnload()                       {}
func (*goSummer) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (g *goSummer) OnBroadcast(ev abi.Event) error {
	var s uint64
	for _, f := range [][]byte{ev.ProgramID, ev.MappingName, ev.Key, ev.Value, ev.Staker, ev.Validator, ev.Block} {
		for _, c := range f {
			s += uint64(c)
		}
	}
	g.sum.Add(s + ev.Reward + ev.NewStake)
	return nil
}

// BenchmarkPluginLanguages delivers batches of 256 events (four 32-byte fields) to one
// plugin doing the same work in Go, C and Rust: the cost per event of each route.
func BenchmarkPluginLanguages(b *testing.B) {
	field := make([]byte, 32)
	for i := range field {
		field[i] = byte(i)
	}
	evs := make([]abi.Event, 256)
	for i := range evs {
		evs[i] = abi.Event{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: field, MappingName: field, Key: field, Value: field}
	}
	cases := []struct {
		name string
		load func(b *testing.B, m *host.Manager)
	}{
		{"go", func(b *testing.B, m *host.Manager) {
			if _, err := m.Register(&goSummer{}, ""); err != nil {
				b.Fatal(err)
			}
		}},
		{"c", func(b *testing.B, m *host.Manager) {
			lib := ctest.Plugin(b, "noop_sum", "testdata/plugins/noop.c", "-DNOOP_BATCH", "-DNOOP_SUM")
			loadLib(b, m, lib)
		}},
		{"rust", func(b *testing.B, m *host.Manager) {
			loadLib(b, m, ctest.Cargo(b, "sdk/rust/testplugins/summer", "slipstream_test_summer"))
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := host.NewManager()
			b.Cleanup(m.Unload)
			c.load(b, m)
			b.ReportAllocs()
			for b.Loop() {
				if err := m.BroadcastBatch(evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
		})
	}
}

func loadLib(b *testing.B, m *host.Manager, lib string) {
	dir := b.TempDir()
	cfg := writeConfig(b, dir, "p.json5", copyLib(b, lib, dir))
	if _, err := m.LoadPlugin(cfg); err != nil {
		b.Fatal(err)
	}
}
