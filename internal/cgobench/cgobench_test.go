//go:build cgobench

package cgobench

import (
	"fmt"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

var field32 = make([]byte, 32)

var benchEvent = abi.Event{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: field32, MappingName: field32, Key: field32, Value: field32}

// BenchmarkCgoBroadcast: encode one event and call the no-op callback through cgo, the
// counterpart of host's BenchmarkBroadcast.
func BenchmarkCgoBroadcast(b *testing.B) {
	a := cabi.NewArena()
	defer a.Free()
	b.ReportAllocs()
	for b.Loop() {
		Broadcast(a.EncodeOne(&benchEvent))
	}
}

// BenchmarkCgoBroadcastBatch: encode N events and make one cgo call, the counterpart of
// host's BenchmarkBroadcastBatch.
func BenchmarkCgoBroadcastBatch(b *testing.B) {
	for _, n := range []int{16, 256, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := cabi.NewArena()
			defer a.Free()
			evs := make([]abi.Event, n)
			for i := range evs {
				evs[i] = benchEvent
			}
			b.ReportAllocs()
			for b.Loop() {
				p, c := a.Encode(evs)
				BroadcastBatch(p, c)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
