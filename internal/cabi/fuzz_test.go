package cabi

import (
	"bytes"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
)

// FuzzArena runs a program of held-batch operations (the store's use of an arena:
// Append, AppendMapping, Mark, Truncate, AppendFrom, Reset, and an Encode between batches)
// against a model, a plain slice of events, and checks after every operation that the
// arena's events read back as the model's. The program's bytes pick the operations and the
// events' sizes, up to payloads larger than a chunk.
func FuzzArena(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{1, 200, 1, 255, 4, 1, 9, 5, 0, 0, 6, 2, 7})
	f.Add(bytes.Repeat([]byte{0, 17, 1, 250}, 200))
	a, o := NewArena(), NewArena()
	f.Cleanup(func() { a.Free(); o.Free() })
	f.Fuzz(func(t *testing.T, prog []byte) {
		a.Reset()
		var model []abi.Event
		var marks []Mark
		var lens []int // model's length at each mark
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		event := func(kind abi.EventKind, n byte) abi.Event {
			size := int(n) // 250 and up: larger than a payload chunk
			if n >= 250 {
				size = 70000 + int(n)
			}
			fill := bytes.Repeat([]byte{n}, size)
			ev := abi.Event{Kind: kind, BlockHeight: uint32(n) << 8}
			switch kind {
			case abi.MappingUpdate:
				ev.ProgramID, ev.MappingName, ev.Key, ev.Value = []byte("p"), []byte("m"), []byte{n}, fill
			case abi.MappingRemoval:
				ev.ProgramID, ev.MappingName, ev.Key, ev.HasKey = []byte("p"), fill, []byte{n}, n%2 == 0
				if !ev.HasKey {
					ev.Key = nil
				}
			case abi.StakingReward:
				ev.Staker, ev.Validator, ev.Reward, ev.NewStake = fill, []byte("v"), uint64(n), uint64(size)
			default:
				ev.Block = fill
			}
			return ev
		}
		for step := 0; len(prog) > 0 && step < 400; step++ {
			switch op := next() % 8; op {
			case 0, 1: // a mapping event through AppendMapping
				ev := event(abi.EventKind(op), next())
				appendMapping(t, a, &ev)
				model = append(model, ev)
			case 2, 3: // any event through Append
				ev := event(abi.EventKind(next()%abi.KindCount), next())
				a.Append(&ev)
				model = append(model, ev)
			case 4: // a checkpoint
				marks, lens = append(marks, a.Mark()), append(lens, len(model))
			case 5: // rewind to the latest checkpoint (and drop it)
				if len(marks) > 0 {
					a.Truncate(marks[len(marks)-1])
					model = model[:lens[len(lens)-1]]
					marks, lens = marks[:len(marks)-1], lens[:len(lens)-1]
				}
			case 6: // the later phases' events appended at commit, then a new batch
				o.Reset()
				blk := event(abi.Block, next())
				o.Append(&blk)
				a.AppendFrom(o)
				wantArena(t, "after AppendFrom", a, append(model, blk))
				a.Reset()
				model, marks, lens = model[:0], nil, nil
			case 7: // a Broadcast's encoding between batches
				evs := []abi.Event{event(abi.MappingUpdate, next()), event(abi.Block, next())}
				if _, n := a.Encode(evs); n != 2 {
					t.Fatalf("Encode returned %d events", n)
				}
				wantArena(t, "encoded", a, evs)
				a.Reset()
				model, marks, lens = model[:0], nil, nil
			}
			wantArena(t, "held", a, model)
		}
	})
}
