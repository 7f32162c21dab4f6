// Package abi is the public Go event model of the Slipstream plugin ABI
// (include/slipstream.h): what an embedder or a Go-native plugin touches. It holds the event
// kinds and subscription masks, the Go view of one event ([Event]), the ABI version
// constants and the compatibility rule ([Compatible]).
//
// It is small on purpose: the C layout of the header's structs and the encoder that writes
// events into memory a C plugin may read are the host's business and live in an internal
// package, so that they can change without breaking embedders. docs/ABI.md tells the whole
// story from the plugin's side.
package abi

import (
	"fmt"
	"math/bits"
	"strings"
)

// ABI version of this host, as in the header's SLIPSTREAM_ABI_* macros.
const (
	// Major is SLIPSTREAM_ABI_MAJOR: a plugin with another major is refused.
	Major = 1
	// Minor is SLIPSTREAM_ABI_MINOR: a plugin with a newer minor is refused.
	Minor = 1
	// Version is SLIPSTREAM_ABI_VERSION, (Major << 16) | Minor.
	Version = uint32(Major<<16 | Minor)
)

// VersionString formats a packed ABI version as "major.minor".
func VersionString(v uint32) string { return fmt.Sprintf("%d.%d", v>>16, v&0xFFFF) }

// Compatible reports whether a plugin built against ABI version v (what its
// slipstream_abi_version returns) may be loaded by this host: the same major, and a minor
// not newer than this host's (a newer plugin might rely on what this host does not provide).
// Older minors are always compatible: the ABI only appends within a major.
func Compatible(v uint32) bool { return v>>16 == Major && v&0xFFFF <= Minor }

// Status codes of the header.
const (
	OK    = 0  // SLIPSTREAM_OK
	Error = -1 // SLIPSTREAM_ERROR; any non-zero return is an error
)

// Log levels a plugin passes to the host's log service (SLIPSTREAM_LOG_*).
const (
	LogTrace = 0
	LogDebug = 1
	LogInfo  = 2
	LogWarn  = 3
	LogError = 4
)

// EventKind is the kind of an event (SLIPSTREAM_EVENT_*).
type EventKind uint32

// The event kinds, with snarkVM's names.
const (
	MappingUpdate  EventKind = 0 // a key was inserted or updated
	MappingRemoval EventKind = 1 // a key, a mapping, or a program's mappings were removed
	StakingReward  EventKind = 2 // a staker was paid
	Block          EventKind = 3 // a block was committed
	// KindCount is SLIPSTREAM_EVENT_KIND_COUNT, the number of kinds this ABI version knows.
	KindCount = 4
)

var kindNames = [KindCount]string{"MappingUpdate", "MappingRemoval", "StakingReward", "Block"}

// String returns the kind's name ("MappingUpdate", …) or "EventKind(N)".
func (k EventKind) String() string {
	if k < KindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint32(k))
}

// Kinds lists every kind in order.
func Kinds() []EventKind { return []EventKind{MappingUpdate, MappingRemoval, StakingReward, Block} }

// EventMask is a set of kinds, bit k set for kind k (SLIPSTREAM_MASK).
type EventMask uint64

// MaskAll holds every kind of this ABI version.
const MaskAll EventMask = 1<<KindCount - 1

// Mask returns the mask holding only k.
func Mask(k EventKind) EventMask { return 1 << k }

// MaskOf returns the mask holding the given kinds.
func MaskOf(kinds ...EventKind) EventMask {
	var m EventMask
	for _, k := range kinds {
		m |= Mask(k)
	}
	return m
}

// Has reports whether k is in m.
func (m EventMask) Has(k EventKind) bool { return m&(1<<k) != 0 }

// Known drops the bits of kinds this ABI version does not know.
func (m EventMask) Known() EventMask { return m & MaskAll }

// Kinds lists the kinds in m, in order.
func (m EventMask) Kinds() []EventKind {
	out := make([]EventKind, 0, bits.OnesCount64(uint64(m.Known())))
	for _, k := range Kinds() {
		if m.Has(k) {
			out = append(out, k)
		}
	}
	return out
}

// String lists the kinds in m, e.g. "MappingUpdate|Block", or "none".
func (m EventMask) String() string {
	ks := m.Kinds()
	if len(ks) == 0 {
		return "none"
	}
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.String()
	}
	return strings.Join(names, "|")
}

// Event is the Go view of one event, the counterpart of slipstream_event.
//
// Which fields are meaningful depends on Kind:
//   - MappingUpdate: ProgramID, MappingName, Key, Value.
//   - MappingRemoval: ProgramID, MappingName, and Key when HasKey (HasKey false: the whole
//     mapping was removed).
//   - StakingReward: Staker, Validator, Reward, NewStake.
//   - Block: Block.
//
// # Memory
//
// The byte slices are the node's encodings, borrowed: a receiver (a Go-native plugin, an
// encoder) must copy what it keeps after the call that handed it the event returns.
type Event struct {
	Kind        EventKind
	BlockHeight uint32

	ProgramID   []byte
	MappingName []byte
	Key         []byte
	HasKey      bool
	Value       []byte

	Staker    []byte
	Validator []byte
	Reward    uint64
	NewStake  uint64

	Block []byte
}

// Size returns the number of payload bytes the event carries (its byte fields together).
func (e *Event) Size() int {
	return len(e.ProgramID) + len(e.MappingName) + len(e.Key) + len(e.Value) +
		len(e.Staker) + len(e.Validator) + len(e.Block)
}
