//go:build linux || darwin

package host_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

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
