package abi

import (
	"unsafe"

	"github.com/slipstream-go/slipstream/internal/cmem"
)

// ErrorBufSize is the capacity of the error buffer an Arena hands to plugins (cap of
// slipstream_error, NUL included).
const ErrorBufSize = 1024

// Arena encodes events into memory outside the Go heap, laid out as the header's
// slipstream_event arrays, so that a C plugin may read them during a call.
//
// One Broadcast encodes its events once; every subscribed plugin then reads the same
// memory. A plugin subscribed to only some of the kinds present gets a compact copy of the
// matching 104-byte event structs from [Arena.Select], which still point at the one copy of
// the payload bytes: a large Block is never copied once per plugin.
//
// # Memory
//
// The arena owns one mapping outside the Go heap, grown (by remapping) when an encode needs
// more and reused across calls; it is never moved while an encoding is in use. Everything
// an encode returns is valid until the next Encode/EncodeOne on the same arena, or Free.
// Nothing here holds a Go pointer, so cgo's pointer rules hold without any pinning.
//
// # Threading
//
// An Arena is not safe for concurrent use: a caller owns it for the duration of one
// broadcast (the host keeps a pool of them).
type Arena struct {
	hdr  []byte // the slipstream_error and its buffer: fixed, never remapped
	data []byte // events, then selected events, then payload bytes
	n    int    // events in the current encoding
	sel  int    // offset of the Select scratch area
	pay  int    // offset of the payload area
}

const (
	arenaMinData = 64 << 10
	errOff       = 0  // CError at the start of hdr
	errBufOff    = 64 // its buffer
	hdrSize      = errBufOff + ErrorBufSize
	align        = 8
	evSize       = int(SizeofEvent)
	sizeofError  = int(SizeofError)
	_            = uint(errBufOff - sizeofError) // CError fits before the buffer
)

// NewArena allocates an arena. It panics only if the system refuses a small mapping.
func NewArena() *Arena {
	a := &Arena{hdr: cmem.MustAlloc(hdrSize), data: cmem.MustAlloc(arenaMinData)}
	e := (*CError)(unsafe.Pointer(&a.hdr[errOff]))
	e.Buf = cmem.Addr(a.hdr[errBufOff:])
	e.Cap = ErrorBufSize
	return a
}

// Free releases the arena's memory. The arena must not be used afterwards.
func (a *Arena) Free() {
	cmem.Free(a.hdr)
	cmem.Free(a.data)
	a.hdr, a.data = nil, nil
}

// Cap returns the size of the arena's data mapping in bytes.
func (a *Arena) Cap() int { return len(a.data) }

func roundUp(n int) int { return (n + align - 1) &^ (align - 1) }

// reserve makes room for n events and payload bytes of the given size, remapping the data
// area when it is too small. Nothing from an earlier encoding survives a remap.
func (a *Arena) reserve(n, payload int) {
	a.n = n
	a.sel = n * evSize
	a.pay = 2 * n * evSize
	need := a.pay + payload
	if need <= len(a.data) {
		return
	}
	size := len(a.data)
	for size < need {
		size *= 2
	}
	fresh := cmem.MustAlloc(size)
	cmem.Free(a.data)
	a.data = fresh
}

// Encode writes evs as a contiguous slipstream_event array and returns its address and
// length. Byte fields are copied into the arena once. An empty evs returns (0, 0).
func (a *Arena) Encode(evs []Event) (uintptr, int) {
	if len(evs) == 0 {
		a.n = 0
		return 0, 0
	}
	payload := 0
	for i := range evs {
		payload += evs[i].Size()
	}
	a.reserve(len(evs), payload)
	off := a.pay
	for i := range evs {
		off = a.put(i, &evs[i], off)
	}
	return cmem.Addr(a.data), len(evs)
}

// EncodeOne is Encode for a single event, without building a slice.
func (a *Arena) EncodeOne(ev *Event) uintptr {
	a.reserve(1, ev.Size())
	a.put(0, ev, a.pay)
	return cmem.Addr(a.data)
}

// event returns the i-th encoded event.
func (a *Arena) event(i int) *CEvent { return (*CEvent)(unsafe.Pointer(&a.data[i*evSize])) }

// Event returns the address of the i-th event of the current encoding.
func (a *Arena) Event(i int) uintptr { return cmem.Addr(a.data[i*evSize:]) }

// Len returns the number of events in the current encoding.
func (a *Arena) Len() int { return a.n }

// bytes copies b to the payload area at off and returns its slipstream_bytes and the next
// offset. Empty byte strings are {NULL, 0}, as the header requires.
func (a *Arena) bytes(b []byte, off int) (CBytes, int) {
	if len(b) == 0 {
		return CBytes{}, off
	}
	copy(a.data[off:], b)
	return CBytes{Ptr: cmem.Addr(a.data[off:]), Len: uint64(len(b))}, off + len(b)
}

func (a *Arena) put(i int, ev *Event, off int) int {
	ce := a.event(i)
	*ce = CEvent{Kind: uint32(ev.Kind), BlockHeight: ev.BlockHeight}
	switch ev.Kind {
	case MappingUpdate:
		u := ce.MappingUpdate()
		u.ProgramID, off = a.bytes(ev.ProgramID, off)
		u.MappingName, off = a.bytes(ev.MappingName, off)
		u.Key, off = a.bytes(ev.Key, off)
		u.Value, off = a.bytes(ev.Value, off)
	case MappingRemoval:
		r := ce.MappingRemoval()
		r.ProgramID, off = a.bytes(ev.ProgramID, off)
		r.MappingName, off = a.bytes(ev.MappingName, off)
		if ev.HasKey {
			r.Key, off = a.bytes(ev.Key, off)
			r.HasKey = 1
		}
	case StakingReward:
		s := ce.StakingReward()
		s.Staker, off = a.bytes(ev.Staker, off)
		s.Validator, off = a.bytes(ev.Validator, off)
		s.Reward, s.NewStake = ev.Reward, ev.NewStake
	case Block:
		ce.Block().Block, off = a.bytes(ev.Block, off)
	}
	return off
}

// Select returns the events of the current encoding whose kind is in mask, as a
// contiguous array: the encoding itself when every event matches, otherwise a compact copy
// of the matching event structs (pointing at the same payload). count is 0 when none match.
// Each call overwrites the previous Select's copy.
func (a *Arena) Select(mask EventMask) (ptr uintptr, count int) {
	all := true
	for i := 0; i < a.n; i++ {
		if !mask.Has(EventKind(a.event(i).Kind)) {
			all = false
			break
		}
	}
	if all {
		return cmem.Addr(a.data), a.n
	}
	for i := 0; i < a.n; i++ {
		if ce := a.event(i); mask.Has(EventKind(ce.Kind)) {
			*(*CEvent)(unsafe.Pointer(&a.data[a.sel+count*evSize])) = *ce
			count++
		}
	}
	if count == 0 {
		return 0, 0
	}
	return cmem.Addr(a.data[a.sel:]), count
}

// ErrorArg clears the error buffer and returns the address of its slipstream_error, to
// pass to a callback.
func (a *Arena) ErrorArg() uintptr {
	a.hdr[errBufOff] = 0
	return cmem.Addr(a.hdr[errOff:])
}

// ErrorMessage returns what the last callback wrote into the error buffer (up to the first
// NUL, at most ErrorBufSize-1 bytes), or "" if it wrote nothing.
func (a *Arena) ErrorMessage() string {
	buf := a.hdr[errBufOff : errBufOff+ErrorBufSize]
	for i, c := range buf {
		if c == 0 {
			return string(buf[:i])
		}
	}
	return string(buf[:ErrorBufSize-1])
}

// GoEvent returns the Go view of a C event. The byte slices alias the C memory: they are
// valid as long as that memory is.
func (e *CEvent) GoEvent() Event {
	ev := Event{Kind: EventKind(e.Kind), BlockHeight: e.BlockHeight}
	switch ev.Kind {
	case MappingUpdate:
		u := e.MappingUpdate()
		ev.ProgramID, ev.MappingName, ev.Key, ev.Value = u.ProgramID.Slice(), u.MappingName.Slice(), u.Key.Slice(), u.Value.Slice()
	case MappingRemoval:
		r := e.MappingRemoval()
		ev.ProgramID, ev.MappingName = r.ProgramID.Slice(), r.MappingName.Slice()
		if r.HasKey != 0 {
			ev.Key, ev.HasKey = r.Key.Slice(), true
		}
	case StakingReward:
		s := e.StakingReward()
		ev.Staker, ev.Validator, ev.Reward, ev.NewStake = s.Staker.Slice(), s.Validator.Slice(), s.Reward, s.NewStake
	case Block:
		ev.Block = e.Block().Block.Slice()
	}
	return ev
}

// Slice returns the bytes b points to, aliasing that memory (nil when empty).
func (b CBytes) Slice() []byte {
	if b.Len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cmem.Pointer(b.Ptr)), b.Len)
}

// KindAt returns the kind of the i-th event of the slipstream_event array at ptr (memory
// outside the Go heap, such as an Arena's).
func KindAt(ptr uintptr, i int) EventKind {
	return EventKind((*CEvent)(cmem.Pointer(ptr + uintptr(i)*SizeofEvent)).Kind)
}
