package abi

import "testing"

func TestMaskString(t *testing.T) {
	for _, tc := range []struct {
		m    EventMask
		want string
	}{{0, "none"}, {MaskAll, "MappingUpdate|MappingRemoval|StakingReward|Block"}, {Mask(Block) | 1<<40, "Block"}} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%#x.String() = %q, want %q", uint64(tc.m), got, tc.want)
		}
	}
	if EventKind(9).String() != "EventKind(9)" || VersionString(Major<<16|2) != "1.2" {
		t.Error("EventKind or VersionString formatting")
	}
}

func TestCompatible(t *testing.T) {
	for _, tc := range []struct {
		v    uint32
		want bool
	}{
		{Version, true},
		{Major << 16, true},              // an older (or the first) minor
		{Major<<16 | (Minor + 1), false}, // a newer minor
		{(Major + 1) << 16, false},       // another major
		{(Major - 1) << 16, false},       // major 0
		{(Major+1)<<16 | Minor, false},   // another major, same minor
	} {
		if got := Compatible(tc.v); got != tc.want {
			t.Errorf("Compatible(%s) = %v, want %v", VersionString(tc.v), got, tc.want)
		}
	}
}
