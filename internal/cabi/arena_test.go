package cabi

import (
	"bytes"
	"slices"
	"testing"
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cmem"
)

func TestArenaRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 200<<10) // larger than the initial mapping: forces a remap
	evs := []abi.Event{
		{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte{1}, Value: []byte{2, 3}},
		{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte{1}}, // empty value
		{Kind: abi.MappingRemoval, BlockHeight: 2, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte{9}, HasKey: true},
		{Kind: abi.MappingRemoval, BlockHeight: 2, ProgramID: []byte("p"), MappingName: []byte("m")},
		{Kind: abi.StakingReward, BlockHeight: 3, Staker: []byte("s"), Validator: []byte("v"), Reward: 1 << 63, NewStake: ^uint64(0)},
		{Kind: abi.Block, BlockHeight: 4, Block: big},
	}
	a := NewArena()
	defer a.Free()
	for round := 0; round < 2; round++ { // the second round reuses the grown arena
		ptr, n := a.Encode(evs)
		if n != len(evs) || ptr != a.Addr() || a.Len() != n {
			t.Fatalf("Encode = %#x, %d", ptr, n)
		}
		for i := range evs {
			ce := a.event(i)
			got := ce.GoEvent()
			if !sameEvent(got, evs[i]) {
				t.Errorf("round %d event %d: got %+v, want %+v", round, i, got, evs[i])
			}
			if evs[i].Kind == abi.MappingUpdate && len(evs[i].Value) == 0 && ce.MappingUpdate().Value != (CBytes{}) {
				t.Errorf("empty value must be {NULL, 0}, got %+v", ce.MappingUpdate().Value)
			}
		}
	}

	tests := []struct {
		mask abi.EventMask
		want []abi.EventKind
	}{
		{abi.MaskAll, []abi.EventKind{abi.MappingUpdate, abi.MappingUpdate, abi.MappingRemoval, abi.MappingRemoval, abi.StakingReward, abi.Block}},
		{abi.MaskOf(abi.MappingRemoval, abi.Block), []abi.EventKind{abi.MappingRemoval, abi.MappingRemoval, abi.Block}},
		{abi.Mask(abi.StakingReward), []abi.EventKind{abi.StakingReward}},
		{0, nil},
	}
	for _, tc := range tests {
		ptr, n := a.Select(tc.mask)
		if n != len(tc.want) || (n == 0) != (ptr == 0) {
			t.Fatalf("Select(%v) = %d events, want %d", tc.mask, n, len(tc.want))
		}
		for i, k := range tc.want {
			ev := (*CEvent)(cmem.Pointer(ptr + uintptr(i)*SizeofEvent)).GoEvent()
			if ev.Kind != k {
				t.Errorf("Select(%v)[%d] kind %v, want %v", tc.mask, i, ev.Kind, k)
			}
			if k == abi.Block && !bytes.Equal(ev.Block, big) {
				t.Error("selected Block event does not point at the encoded bytes")
			}
		}
	}
}

func TestArenaErrorBuffer(t *testing.T) {
	a := NewArena()
	defer a.Free()
	e := (*CError)(cmem.Pointer(a.ErrorArg()))
	if e.Cap != ErrorBufSize || a.ErrorMessage() != "" {
		t.Fatalf("error arg %+v, message %q", e, a.ErrorMessage())
	}
	buf := (*[ErrorBufSize]byte)(cmem.Pointer(e.Buf))
	copy(buf[:], "boom\x00")
	if a.ErrorMessage() != "boom" {
		t.Errorf("ErrorMessage = %q", a.ErrorMessage())
	}
	a.ErrorArg() // clears it for the next call
	if a.ErrorMessage() != "" {
		t.Errorf("ErrorArg did not clear the buffer: %q", a.ErrorMessage())
	}
	for i := range buf { // no NUL at all: the message is cut at cap-1
		buf[i] = 'x'
	}
	if n := len(a.ErrorMessage()); n != ErrorBufSize-1 {
		t.Errorf("unterminated message read as %d bytes", n)
	}
}

func sameEvent(a, b abi.Event) bool {
	return a.Kind == b.Kind && a.BlockHeight == b.BlockHeight && bytes.Equal(a.ProgramID, b.ProgramID) &&
		bytes.Equal(a.MappingName, b.MappingName) && bytes.Equal(a.Key, b.Key) && a.HasKey == b.HasKey &&
		bytes.Equal(a.Value, b.Value) && bytes.Equal(a.Staker, b.Staker) && bytes.Equal(a.Validator, b.Validator) &&
		a.Reward == b.Reward && a.NewStake == b.NewStake && bytes.Equal(a.Block, b.Block)
}

// appended is what TestArenaAppend appends, in order: enough events to outgrow the first
// event mapping, and payloads that outgrow the first chunk (block), and a kept chunk
// (huge, in the second round).
func appended(round int) []abi.Event {
	var evs []abi.Event
	for i := range 400 {
		evs = append(evs, abi.Event{Kind: abi.MappingUpdate, BlockHeight: uint32(i), ProgramID: []byte("credits.aleo"),
			MappingName: []byte("account"), Key: []byte{byte(i), byte(i >> 8)}, Value: bytes.Repeat([]byte{byte(i)}, i%50)})
		if i == 100 {
			evs = append(evs, abi.Event{Kind: abi.Block, BlockHeight: 5, Block: bytes.Repeat([]byte{5}, 100<<10)})
		}
		if i == 200 && round == 1 {
			evs = append(evs, abi.Event{Kind: abi.Block, BlockHeight: 6, Block: bytes.Repeat([]byte{6}, 1<<20)})
		}
	}
	return append(evs,
		abi.Event{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("p"), MappingName: []byte("m"), Key: []byte{}, HasKey: true},
		abi.Event{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("p"), MappingName: []byte("m")},
		abi.Event{Kind: abi.StakingReward, BlockHeight: 8, Staker: []byte("s"), Validator: []byte("v"), Reward: 3, NewStake: 9},
	)
}

// add appends ev to a: mapping events through AppendMapping, the others through Append.
func add(t testing.TB, a *Arena, ev *abi.Event) {
	switch ev.Kind {
	case abi.MappingUpdate, abi.MappingRemoval:
		appendMapping(t, a, ev)
	default:
		a.Append(ev)
	}
}

// appendMapping appends the mapping event ev with AppendMapping and checks the names it
// returns: program, mapping and key (if any) as written, inside the arena's payload.
func appendMapping(t testing.TB, a *Arena, ev *abi.Event) {
	t.Helper()
	names := a.AppendMapping(ev.BlockHeight, &MappingEvent{ev.Kind, ev.ProgramID, ev.MappingName, ev.Key, ev.Value, ev.HasKey})
	want := slices.Concat(ev.ProgramID, ev.MappingName)
	if ev.Kind == abi.MappingUpdate || ev.HasKey {
		want = append(want, ev.Key...)
	}
	if !bytes.Equal(names, want) || cap(names) != len(names) {
		t.Fatalf("AppendMapping returned %q (cap %d), want %q", names, cap(names), want)
	}
	if u := a.event(a.Len() - 1).MappingUpdate(); len(names) > 0 && u.ProgramID.Len > 0 && u.ProgramID.Ptr != uintptr(unsafe.Pointer(unsafe.SliceData(names))) {
		t.Fatalf("AppendMapping's names are not the event's copy")
	}
}

func wantArena(t *testing.T, what string, a *Arena, want []abi.Event) {
	t.Helper()
	got := a.Events()
	if len(got) != len(want) || a.Len() != len(want) {
		t.Fatalf("%s: %d events (Len %d), want %d", what, len(got), a.Len(), len(want))
	}
	sum := emptySummary()
	for i := range want {
		if !sameEvent(got[i], want[i]) {
			t.Fatalf("%s: event %d: got %v at %d, want %v at %d", what, i, got[i].Kind, got[i].BlockHeight, want[i].Kind, want[i].BlockHeight)
		}
		sum.add(want[i].Kind, want[i].BlockHeight)
	}
	if got := a.Summary(); got != sum {
		t.Fatalf("%s: Summary() = %+v, want %+v", what, got, sum)
	}
}

// Append, AppendMapping, Mark/Truncate, AppendFrom and Reset: the held-batch path.
func TestArenaAppend(t *testing.T) {
	a := NewArena()
	defer a.Free()
	for round := range 2 { // the second reuses the first's memory and outgrows a kept chunk
		a.Reset()
		evs := appended(round)
		add(t, a, &evs[0])
		first := a.event(0).MappingUpdate().ProgramID
		for i := range evs[1:] {
			add(t, a, &evs[1+i])
		}
		wantArena(t, "appended", a, evs)
		if got := a.event(0).MappingUpdate().ProgramID; got != first {
			t.Fatalf("round %d: event 0's bytes moved from %#x to %#x while the arena grew", round, first.Ptr, got.Ptr)
		}

		// a rewound checkpoint: what came after the mark is gone, what follows replaces it
		m := a.Mark()
		for i := range evs[:50] {
			add(t, a, &evs[i])
		}
		a.Truncate(m)
		tail := abi.Event{Kind: abi.MappingUpdate, BlockHeight: 9, ProgramID: []byte("x"), MappingName: []byte("y"), Key: []byte("z")}
		add(t, a, &tail)
		wantArena(t, "truncated", a, append(slices.Clip(evs), tail))
		evs = append(evs, tail)

		// the later phases' structs appended: they point at the other arena's bytes
		o := NewArena()
		blk := abi.Event{Kind: abi.Block, BlockHeight: 10, Block: []byte("block")}
		o.Append(&blk)
		a.AppendFrom(o)
		wantArena(t, "with another arena's events", a, append(slices.Clip(evs), blk))
		ptr, n := a.Select(abi.Mask(abi.Block))
		if want := 2 + round; n != want || ptr == 0 {
			t.Fatalf("Select(Block) = %d events, want %d", n, want)
		}
		if got := (*CEvent)(cmem.Pointer(ptr + uintptr(n-1)*SizeofEvent)).GoEvent(); !sameEvent(got, blk) {
			t.Fatalf("the selected last Block is %+v", got)
		}
		o.Free()
	}
}
