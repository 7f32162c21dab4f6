//go:build linux || darwin

package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// BenchmarkIsolatedBroadcast: the node's side of one event (four 32-byte fields) to a C
// no-op plugin with delivery "async" in process, and with isolation "process" (the same
// async queue, its worker feeding a child process). The loop ends with a Flush, so that
// ns/op is also the sustained rate (the queue blocks when full: on_full "block").
func BenchmarkIsolatedBroadcast(b *testing.B) {
	for _, mode := range []string{"async", "process"} {
		for _, n := range []int{1, 256} {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, n), func(b *testing.B) {
				dir := b.TempDir()
				lib := copyLib(b, pluginLib(b, "noop"), dir, "libnoop.so")
				extra := `delivery: "async"`
				if mode == "process" {
					extra = `isolation: "process"`
				}
				cfg := writeConfig(b, dir, "noop.json5", fmt.Sprintf("{libpath: %q, %s}", filepath.Base(lib), extra))
				m := host.NewManager(host.WithLogger(zerolog.Nop()))
				if _, err := m.LoadPlugin(cfg); err != nil {
					b.Fatal(err)
				}
				defer m.Unload()
				evs := ctest.BenchEvents(n)
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if n == 1 {
						err = m.Broadcast(ctest.BenchEvent)
					} else {
						err = m.BroadcastBatch(evs)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := m.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			})
		}
	}
}

// BenchmarkIsolatedCrashRestart: crash-to-resumed time of a plugin with isolation "process"
// (the faulty test plugin, SIGSEGV at height 2 on its first run). Each iteration loads it
// afresh, delivers height 1 (the child is up), then times from the Broadcast of height 2
// (the child dies on it) to the Flush that returns once the restarted child acknowledged
// height 2: detection, the first restart's backoff, the new child's start and the
// re-delivery. Reported as ms/restart.
func BenchmarkIsolatedCrashRestart(b *testing.B) {
	lib := ctest.FaultyPlugin(b, false)
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		cfg := writeConfig(b, dir, "faulty.json5", fmt.Sprintf(`{libpath: %q, isolation: "process", out: %q, marker: %q,
			fault: "segv", at: 2, allow_insecure: true}`, lib, filepath.Join(dir, "out.txt"), filepath.Join(dir, "marker")))
		m := host.NewManager(host.WithLogger(zerolog.Nop()))
		if _, err := m.LoadPlugin(cfg); err != nil {
			b.Fatal(err)
		}
		if err := m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: 1, Block: []byte{1}}); err != nil {
			b.Fatal(err)
		}
		if err := m.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := m.Broadcast(abi.Event{Kind: abi.Block, BlockHeight: 2, Block: []byte{2}}); err != nil {
			b.Fatal(err)
		}
		if err := m.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		infos := m.Shutdown()
		if c := infos[0].Counters; c.Restarts != 1 || c.Events != 2 {
			b.Fatalf("restarts %d events %d; want 1 2", c.Restarts, c.Events)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/restart")
}
