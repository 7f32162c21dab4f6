package cabi

import (
	"testing"

	"github.com/slipstream-go/slipstream/internal/ctest"
)

// BenchmarkArena compares the two ways into an arena, per event of ctest.BenchEvent in
// batches of 256: Encode of a whole slice (a Broadcast's encoding) and AppendMapping one at
// a time (finalize's held batch).
func BenchmarkArena(b *testing.B) {
	const n = 256
	a := NewArena()
	defer a.Free()
	evs := ctest.BenchEvents(n)
	e := ctest.BenchEvent
	m := MappingEvent{e.Kind, e.ProgramID, e.MappingName, e.Key, e.Value, false}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			a.Encode(evs)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	})
	b.Run("append", func(b *testing.B) {
		for b.Loop() {
			a.Reset()
			for range n {
				a.AppendMapping(1, &m)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	})
}
