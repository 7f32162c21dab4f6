package cabi

import (
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
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
func (a *Arena) Encode(evs []abi.Event) (uintptr, int) {
	if len(evs) == 0 {
		a.n = 0
		return 0, 0
	}
	payload := 0
	for i := range evs {
		payload += evs[i].Size()
	}
	return a.EncodeSized(evs, payload)
}

// EncodeSized is Encode for a caller that already summed the events' Size (one pass over
// the events fewer on the broadcast path). payload must be at least that sum.
func (a *Arena) EncodeSized(evs []abi.Event, payload int) (uintptr, int) {
	if len(evs) == 0 {
		a.n = 0
		return 0, 0
	}
	a.reserve(len(evs), payload)
	base := unsafe.Pointer(unsafe.SliceData(a.data))
	off := uintptr(a.pay)
	for i := range evs {
		off = put(base, uintptr(i)*SizeofEvent, &evs[i], off)
	}
	return uintptr(base), len(evs)
}

// EncodeOne is Encode for a single event, without building a slice.
func (a *Arena) EncodeOne(ev *abi.Event) uintptr {
	a.reserve(1, ev.Size())
	base := unsafe.Pointer(unsafe.SliceData(a.data))
	put(base, 0, ev, uintptr(a.pay))
	return uintptr(base)
}

// event returns the i-th encoded event.
func (a *Arena) event(i int) *CEvent { return (*CEvent)(unsafe.Pointer(&a.data[i*evSize])) }

// Addr returns the address of the current encoding's event array.
func (a *Arena) Addr() uintptr { return cmem.Addr(a.data) }

// Len returns the number of events in the current encoding.
func (a *Arena) Len() int { return a.n }

// put encodes ev as the event at base+at with its bytes from base+off on, and returns the
// offset after them. reserve made room for everything (Event.Size bounds the bytes), so
// nothing here is bounds-checked: this is the broadcast's hot loop.
func put(base unsafe.Pointer, at uintptr, ev *abi.Event, off uintptr) uintptr {
	ce := (*CEvent)(unsafe.Add(base, at))
	ce.Kind, ce.BlockHeight = uint32(ev.Kind), ev.BlockHeight
	switch ev.Kind {
	case abi.MappingUpdate:
		// putBytes writes the member's four fields; only the union's tail needs zeroing.
		*(*[4]uint64)(ce.Union[8:]) = [4]uint64{}
		u := (*CMappingUpdate)(unsafe.Pointer(&ce.Union))
		off = putBytes(base, off, ev.ProgramID, &u.ProgramID)
		off = putBytes(base, off, ev.MappingName, &u.MappingName)
		off = putBytes(base, off, ev.Key, &u.Key)
		off = putBytes(base, off, ev.Value, &u.Value)
	case abi.MappingRemoval:
		ce.Union = [12]uint64{}
		r := (*CMappingRemoval)(unsafe.Pointer(&ce.Union))
		off = putBytes(base, off, ev.ProgramID, &r.ProgramID)
		off = putBytes(base, off, ev.MappingName, &r.MappingName)
		if ev.HasKey {
			off = putBytes(base, off, ev.Key, &r.Key)
			r.HasKey = 1
		}
	case abi.StakingReward:
		ce.Union = [12]uint64{}
		s := (*CStakingReward)(unsafe.Pointer(&ce.Union))
		off = putBytes(base, off, ev.Staker, &s.Staker)
		off = putBytes(base, off, ev.Validator, &s.Validator)
		s.Reward, s.NewStake = ev.Reward, ev.NewStake
	case abi.Block:
		ce.Union = [12]uint64{}
		off = putBytes(base, off, ev.Block, &(*CBlock)(unsafe.Pointer(&ce.Union)).Block)
	default:
		ce.Union = [12]uint64{}
	}
	return off
}

// putBytes copies b to base+off and points dst at the copy; an empty byte string is
// {NULL, 0}, as the header requires.
func putBytes(base unsafe.Pointer, off uintptr, b []byte, dst *CBytes) uintptr {
	if len(b) == 0 {
		*dst = CBytes{}
		return off
	}
	p := unsafe.Add(base, off)
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	*dst = CBytes{Ptr: uintptr(p), Len: uint64(len(b))}
	return off + uintptr(len(b))
}

// Select returns the events of the current encoding whose kind is in mask, as a
// contiguous array: a compact copy of the matching event structs (pointing at the same
// payload), or the encoding itself when every event matches. count is 0 when none match.
// Each call overwrites the previous Select's copy. A caller that knows every kind present
// is in mask uses Addr and Len instead.
func (a *Arena) Select(mask abi.EventMask) (ptr uintptr, count int) {
	for i := 0; i < a.n; i++ {
		if ce := a.event(i); mask.Has(abi.EventKind(ce.Kind)) {
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
func (e *CEvent) GoEvent() abi.Event {
	ev := abi.Event{Kind: abi.EventKind(e.Kind), BlockHeight: e.BlockHeight}
	switch ev.Kind {
	case abi.MappingUpdate:
		u := e.MappingUpdate()
		ev.ProgramID, ev.MappingName, ev.Key, ev.Value = u.ProgramID.Slice(), u.MappingName.Slice(), u.Key.Slice(), u.Value.Slice()
	case abi.MappingRemoval:
		r := e.MappingRemoval()
		ev.ProgramID, ev.MappingName = r.ProgramID.Slice(), r.MappingName.Slice()
		if r.HasKey != 0 {
			ev.Key, ev.HasKey = r.Key.Slice(), true
		}
	case abi.StakingReward:
		s := e.StakingReward()
		ev.Staker, ev.Validator, ev.Reward, ev.NewStake = s.Staker.Slice(), s.Validator.Slice(), s.Reward, s.NewStake
	case abi.Block:
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
