package ctest

import "github.com/slipstream-go/slipstream/abi"

// Field32 is a 32-byte field, the size of an Aleo address.
var Field32 = make([]byte, 32)

// BenchEvent is the event of the broadcast benchmarks (host's through purego and
// internal/cgobench's through cgo, so that the two measure the same): a mapping update with
// four 32-byte fields.
var BenchEvent = abi.Event{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: Field32, MappingName: Field32, Key: Field32, Value: Field32}

// BenchEvents is n copies of BenchEvent.
func BenchEvents(n int) []abi.Event {
	evs := make([]abi.Event, n)
	for i := range evs {
		evs[i] = BenchEvent
	}
	return evs
}
