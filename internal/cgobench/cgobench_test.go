//go:build cgobench

package cgobench

import (
	"fmt"
	"testing"

	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// BenchmarkCgoBroadcast: encode one event and call the no-op callback through cgo, the
// counterpart of host's BenchmarkBroadcast.
func BenchmarkCgoBroadcast(b *testing.B) {
	a := cabi.NewArena()
	defer a.Free()
	b.ReportAllocs()
	for b.Loop() {
		Broadcast(a.EncodeOne(&ctest.BenchEvent))
	}
}

// BenchmarkCgoBroadcastBatch: encode N events and make one cgo call, the counterpart of
// host's BenchmarkBroadcastBatch.
func BenchmarkCgoBroadcastBatch(b *testing.B) {
	for _, n := range []int{16, 256, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := cabi.NewArena()
			defer a.Free()
			evs := ctest.BenchEvents(n)
			b.ReportAllocs()
			for b.Loop() {
				p, c := a.Encode(evs)
				BroadcastBatch(p, c)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
