package finalize

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// Benchmarks of the cost the store adds to a node's finalization (issue 3, item 5).
//
//	go test -run '^$' -bench . -benchmem -count 10 ./finalize/ | benchstat -
//
// BenchmarkUpdateKeyValue/no-manager vs /manager-unsubscribed must be within 5 % with the
// same allocs/op. /subscriber-go and /subscriber-c give the cost per delivered event.

// noopPlugin is a Go-native plugin subscribed to every kind that does nothing.
type noopPlugin struct{}

func (noopPlugin) Name() string                    { return "noop" }
func (noopPlugin) OnLoad(string, bool) error       { return nil }
func (noopPlugin) OnUnload()                       {}
func (noopPlugin) SubscribedEvents() abi.EventMask { return abi.MaskAll }
func (noopPlugin) OnBroadcast(ev abi.Event) error  { return nil }

// newGoSubscriberManager returns a manager with one Go-native no-op plugin subscribed to
// every kind.
func newGoSubscriberManager(b *testing.B) *host.Manager {
	m := host.NewManager()
	if _, err := m.Register(noopPlugin{}, ""); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Unload)
	return m
}

// newCSubscriberManager returns a manager with the C no-op test plugin
// (testdata/plugins/noop.c, subscribed to every kind, on_broadcast only) loaded through a
// config file; it is unloaded when the benchmark ends.
func newCSubscriberManager(b *testing.B) *host.Manager {
	return newCManager(b, ctest.Plugin(b, "noop", "testdata/plugins/noop.c"))
}

// newCBatchSubscriberManager is newCSubscriberManager with the C no-op plugin built with
// on_broadcast_batch (-DNOOP_BATCH): a batch is one call.
func newCBatchSubscriberManager(b *testing.B) *host.Manager {
	return newCManager(b, ctest.Plugin(b, "noop_batch", "testdata/plugins/noop.c", "-DNOOP_BATCH"))
}

// newCManager returns a manager with the C plugin lib loaded through a config file.
func newCManager(b *testing.B, lib string) *host.Manager {
	cfg := filepath.Join(b.TempDir(), "noop.json5")
	if err := os.WriteFile(cfg, []byte("{ libpath: "+strconv.Quote(lib)+" }\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	m := host.NewManager()
	if _, err := m.LoadPlugin(cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Unload)
	return m
}

// managerCases are the stores both benchmarks compare: no manager, a manager nobody
// subscribes through, a Go and a C subscriber.
var managerCases = []struct {
	name    string
	manager func(b *testing.B) *host.Manager // nil: no manager
}{
	{"no-manager", nil},
	{"manager-unsubscribed", func(*testing.B) *host.Manager { return host.NewManager() }},
	{"subscriber-go", newGoSubscriberManager},
	{"subscriber-c", newCSubscriberManager},
}

// eachManager runs bench as a sub-benchmark per case, on a new store with that manager.
func eachManager(b *testing.B, bench func(b *testing.B, s *Store)) {
	for _, c := range managerCases {
		b.Run(c.name, func(b *testing.B) {
			s := NewStore()
			if c.manager != nil {
				s.SetSlipstreamPluginManager(c.manager(b))
			}
			bench(b, s)
		})
	}
}

func BenchmarkUpdateKeyValue(b *testing.B) {
	eachManager(b, func(b *testing.B, s *Store) { benchUpdates(b, s, 0) })
}

// BenchmarkUpdateKeyValueInBatch is the same inside atomic batches of 1024 writes
// (finished, so held events are delivered in one BroadcastBatch call per batch).
func BenchmarkUpdateKeyValueInBatch(b *testing.B) {
	eachManager(b, func(b *testing.B, s *Store) { benchUpdates(b, s, 1024) })
}

// benchUpdates overwrites one key of credits.aleo/account in a canonical context: outside a
// batch when batch is 0 (with a subscriber, every write is one Broadcast), else inside atomic
// batches of that many writes.
func benchUpdates(b *testing.B, s *Store, batch int) {
	p, m := []byte("credits.aleo"), []byte("account")
	key := []byte("aleo1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")
	value := make([]byte, 40)
	if err := s.InitializeMapping(p, m); err != nil {
		b.Fatal(err)
	}
	s.SetCanonical(true)
	if batch > 0 {
		_ = s.StartAtomic()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		value[0] = byte(i)
		if err := s.UpdateKeyValue(p, m, key, value); err != nil {
			b.Fatal(err)
		}
		if i++; batch > 0 && i%batch == 0 {
			_ = s.FinishAtomic()
			_ = s.StartAtomic()
		}
	}
	if batch > 0 {
		_ = s.FinishAtomic()
	}
}

// BenchmarkUpdateKeyValueInBatch256 is BenchmarkUpdateKeyValueInBatch with batches of 256
// writes, without a manager and with the C no-op plugin (on_broadcast only, and with
// on_broadcast_batch): /subscriber-c-batch minus /no-manager is the delivery's cost per
// event, to set against internal/cgobench's BenchmarkCgoBroadcastBatch/256 (issue 15).
func BenchmarkUpdateKeyValueInBatch256(b *testing.B) {
	for _, c := range []struct {
		name    string
		manager func(b *testing.B) *host.Manager
	}{{"no-manager", nil}, {"subscriber-c", newCSubscriberManager}, {"subscriber-c-batch", newCBatchSubscriberManager}} {
		b.Run(c.name, func(b *testing.B) {
			s := NewStore()
			if c.manager != nil {
				s.SetSlipstreamPluginManager(c.manager(b))
			}
			benchUpdates(b, s, 256)
		})
	}
}

// BenchmarkHeldDelivery measures issue 15's goal 1 directly: the cost per event of
// delivering held batches of 256 writes to the C no-op plugin (on_broadcast_batch). Each
// iteration runs one batch on a store without a manager and one on a store with the
// plugin, back to back and in alternating order, and times both; delivery-ns/event is the
// median over the iterations of the difference per event. Pairing cancels the drift of a
// shared machine that the difference of two separate benchmarks' figures
// (BenchmarkUpdateKeyValueInBatch256) carries.
func BenchmarkHeldDelivery(b *testing.B) {
	const batch = 256
	p, m := []byte("credits.aleo"), []byte("account")
	key := []byte("aleo1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")
	value := make([]byte, 40)
	plain, fed := NewStore(), NewStore()
	fed.SetSlipstreamPluginManager(newCBatchSubscriberManager(b))
	run := func(s *Store) time.Duration {
		t0 := time.Now()
		_ = s.StartAtomic()
		for i := range batch {
			value[0] = byte(i)
			if err := s.UpdateKeyValue(p, m, key, value); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.FinishAtomic(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	for _, s := range []*Store{plain, fed} {
		if err := s.InitializeMapping(p, m); err != nil {
			b.Fatal(err)
		}
		s.SetCanonical(true)
		run(s) // the first batch allocates what the others reuse
	}
	var diffs []float64
	b.ReportAllocs()
	for b.Loop() {
		var d time.Duration
		if len(diffs)%2 == 0 {
			d = -run(plain)
			d += run(fed)
		} else {
			d = run(fed)
			d -= run(plain)
		}
		diffs = append(diffs, float64(d.Nanoseconds())/batch)
	}
	slices.Sort(diffs)
	b.ReportMetric(diffs[len(diffs)/2], "delivery-ns/event")
}
