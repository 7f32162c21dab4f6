//go:build linux || darwin

package host_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"github.com/slipstream-go/slipstream/internal/journal"
)

// benchBlock is a block's events for the journal benchmarks: 8 mapping updates with
// 32-byte fields and a Block event.
func benchBlock(h uint32) []abi.Event {
	evs := make([]abi.Event, 0, 9)
	for range 8 {
		e := ctest.BenchEvent
		e.BlockHeight = h
		evs = append(evs, e)
	}
	return append(evs, abi.Event{Kind: abi.Block, BlockHeight: h, Block: ctest.Field32})
}

// loopBlocks reports allocations and hands evs to deliver once per b.Loop iteration, as the
// block at height 1, 2, 3, …
func loopBlocks(b *testing.B, evs []abi.Event, deliver func([]abi.Event) error) {
	b.Helper()
	b.ReportAllocs()
	h := uint32(0)
	for b.Loop() {
		h++
		for i := range evs {
			evs[i].BlockHeight = h
		}
		if err := deliver(evs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcastJournal compares a block's BroadcastBatch into a Go plugin without and
// with a journal (one append of the block, then delivery).
func BenchmarkBroadcastJournal(b *testing.B) {
	for _, withJournal := range []bool{false, true} {
		name := "off"
		if withJournal {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			opts := []host.Option{host.WithLogger(zerolog.Nop())}
			if withJournal {
				opts = append(opts, host.WithJournal(b.TempDir()))
			}
			m := host.NewManager(opts...)
			defer m.Unload()
			if _, err := m.Register(&countPlugin{name: "count"}, ""); err != nil {
				b.Fatal(err)
			}
			evs := benchBlock(1)
			loopBlocks(b, evs, m.BroadcastBatch)
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkJournalAppend measures the journal's append of a block and reports the bytes
// it writes per event beyond the events' payload.
func BenchmarkJournalAppend(b *testing.B) {
	j, err := journal.Open(b.TempDir(), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	evs := benchBlock(1)
	payload := 0
	for i := range evs {
		payload += evs[i].Size()
	}
	loopBlocks(b, evs, func(evs []abi.Event) error {
		_, _, err := j.Append(evs)
		return err
	})
	// Over the heights the journal still holds: retention deletes the oldest segments of a
	// long run (one height a block here).
	w := j.Window()
	held := int64(w.Last-w.First) + 1
	b.ReportMetric(float64(w.Bytes-held*int64(payload))/float64(held*int64(len(evs))), "overhead-B/event")
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCatchUp measures a catch-up of 10,000 blocks from the journal into a Go plugin
// (events/s), to set against BenchmarkBroadcastJournal/on, the same plugin live.
func BenchmarkCatchUp(b *testing.B) {
	const blocks = 10_000
	m := host.NewManager(host.WithLogger(zerolog.Nop()), host.WithJournal(b.TempDir()))
	defer m.Unload()
	for h := uint32(1); h <= blocks; h++ {
		if err := m.BroadcastBatch(benchBlock(h)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		p := &heightsPlugin{resume: 1}
		if _, err := m.Register(p, ""); err != nil {
			b.Fatal(err)
		}
		if err := m.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := m.UnloadPlugin("heights"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*blocks*9)/b.Elapsed().Seconds(), "events/s")
}
