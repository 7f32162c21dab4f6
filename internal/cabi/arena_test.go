package cabi

import (
	"bytes"
	"testing"

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
