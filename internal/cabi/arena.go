package cabi

import (
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cmem"
)

// ErrorBufSize is the capacity of the error buffer an Arena hands to plugins (cap of
// slipstream_error, NUL included).
const ErrorBufSize = 1024

// Arena holds events in memory outside the Go heap, laid out as the header's
// slipstream_event arrays, so that a C plugin may read them during a call.
//
// It is filled in one of two ways. [Arena.Encode] writes a whole broadcast at once: one
// Broadcast encodes its events once, and every subscribed plugin then reads the same
// memory. [Arena.Append] adds one event at a time, as finalize's store holds a batch until
// it commits: the events are written once, in the ABI's layout, when they happen, and the
// batch is handed to the plugins as it is. [Arena.Mark] and [Arena.Truncate] drop what was
// appended after a point (a rewound checkpoint), [Arena.Reset] everything.
//
// A plugin subscribed to only some of the kinds present gets a compact copy of the
// matching 104-byte event structs from [Arena.Select], which still point at the one copy of
// the payload bytes: a large Block is never copied once per plugin.
//
// # Memory
//
// The arena owns three kinds of mapping outside the Go heap: the event structs (grown by
// copying into a larger mapping, so their address changes when an Append grows them), the
// payload bytes the structs point to (chunks that never move: an Append that does not fit
// starts a new chunk, so the pointers already written stay valid), and the error buffer.
// Everything is reused across encodings. An encoding's event array ([Arena.Addr]) is valid
// until the next Append, Encode, EncodeOne, Select, Truncate, Reset or Free; its payload
// bytes until the next Encode, EncodeOne, Reset, Free, or a Truncate to before them.
// Nothing here holds a Go pointer, so cgo's pointer rules hold without any pinning.
//
// # Threading
//
// An Arena is not safe for concurrent use: a caller owns it for the duration of one
// broadcast (the host keeps a pool of them) or one batch.
type Arena struct {
	hdr   []byte      // the slipstream_error and its buffer: fixed, never remapped
	evs   []byte      // the event structs
	n     int         // events in the current encoding
	sel   []byte      // Select's scratch (allocated on first use)
	pay   [][]byte    // payload chunks: pay[cur] is being filled from off on
	cur   int         // the chunk being filled
	off   int         // the next free byte of pay[cur]
	views []abi.Event // Events' buffer
	sum   Summary     // of the events appended since the last Reset
	sumOK bool        // sum is up to date (else Summary reads the events)

	// The append path's view of the above, set by sync whenever evs, pay or cur change.
	evBase unsafe.Pointer // evs' first byte
	capN   int            // events evs has room for
	chunk  unsafe.Pointer // pay[cur]'s first byte
	end    int            // len(pay[cur])
}

// Summary is what a delivery needs to know of an arena's events without reading them:
// the kinds present, the events of each kind, the lowest and the highest block height.
type Summary struct {
	Present  abi.EventMask
	Counts   [abi.KindCount]uint32
	Min, Max uint32 // ^0 and 0 when there is no event
}

func emptySummary() Summary { return Summary{Min: ^uint32(0)} }

func (s *Summary) add(kind abi.EventKind, height uint32) {
	s.Present |= abi.Mask(kind)
	if kind < abi.KindCount {
		s.Counts[kind]++
	}
	s.Min, s.Max = min(s.Min, height), max(s.Max, height)
}

// Summary returns the summary of the arena's events: kept up to date by Append and
// AppendMapping (a few instructions each), read from the events after an Encode or a
// Truncate.
func (a *Arena) Summary() Summary {
	if !a.sumOK {
		a.sum = emptySummary()
		for i := range a.n {
			ce := a.event(i)
			a.sum.add(abi.EventKind(ce.Kind), ce.BlockHeight)
		}
		a.sumOK = true
	}
	return a.sum
}

// Mark is a position in an Arena's events, for [Arena.Truncate].
type Mark struct{ n, cur, off int }

const (
	minEvents   = 32 << 10 // bytes of event structs first mapped (315 events)
	minPayload  = 64 << 10 // bytes of the first payload chunk
	errOff      = 0        // CError at the start of hdr
	errBufOff   = 64       // its buffer
	hdrSize     = errBufOff + ErrorBufSize
	evSize      = int(SizeofEvent)
	sizeofError = int(SizeofError)
	_           = uint(errBufOff - sizeofError) // CError fits before the buffer
)

// NewArena allocates an arena. It panics only if the system refuses a small mapping.
func NewArena() *Arena {
	a := &Arena{hdr: cmem.MustAlloc(hdrSize), evs: cmem.MustAlloc(minEvents), pay: [][]byte{cmem.MustAlloc(minPayload)}}
	e := (*CError)(unsafe.Pointer(&a.hdr[errOff]))
	e.Buf = cmem.Addr(a.hdr[errBufOff:])
	e.Cap = ErrorBufSize
	a.Reset()
	return a
}

// sync sets the append path's pointers after a change of evs, pay or cur.
func (a *Arena) sync() {
	a.evBase, a.capN = unsafe.Pointer(unsafe.SliceData(a.evs)), len(a.evs)/evSize
	a.chunk, a.end = unsafe.Pointer(unsafe.SliceData(a.pay[a.cur])), len(a.pay[a.cur])
}

// Free releases the arena's memory. The arena must not be used afterwards.
func (a *Arena) Free() {
	cmem.Free(a.hdr)
	cmem.Free(a.evs)
	cmem.Free(a.sel)
	for _, c := range a.pay {
		cmem.Free(c)
	}
	*a = Arena{}
}

// grown returns a mapping of at least need bytes holding old's first keep bytes (old is
// freed), doubling old's size so that repeated growth is amortized.
func grown(old []byte, keep, need int) []byte {
	size := max(len(old), 4096)
	for size < need {
		size *= 2
	}
	fresh := cmem.MustAlloc(size)
	copy(fresh, old[:keep])
	cmem.Free(old)
	return fresh
}

// Reset empties the arena for a new batch, keeping its memory.
func (a *Arena) Reset() {
	a.n, a.cur, a.off = 0, 0, 0
	a.sum, a.sumOK = emptySummary(), true
	a.sync()
}

// Mark returns the arena's current position.
func (a *Arena) Mark() Mark { return Mark{a.n, a.cur, a.off} }

// Truncate drops the events appended after m, a Mark of this arena taken since its last
// Reset. Their payload space is reused by the next Append.
func (a *Arena) Truncate(m Mark) {
	a.n, a.cur, a.off = m.n, m.cur, m.off
	a.sumOK = false
	a.sync()
}

// Append adds ev as the next event, copying its byte fields into the arena.
func (a *Arena) Append(ev *abi.Event) {
	ce, p := a.room(ev.Size())
	a.sum.add(ev.Kind, ev.BlockHeight)
	a.used(p, put(ce, ev, p))
}

// MappingEvent is a mapping event in parts, as a store's write has them at hand: what
// [Arena.AppendMapping] takes instead of an abi.Event.
type MappingEvent struct {
	Kind                         abi.EventKind // MappingUpdate or MappingRemoval
	Program, Mapping, Key, Value []byte        // a removal has no Value
	HasKey                       bool          // a removal's
}

// AppendMapping is Append of e at height. It returns the arena's copy of e's program,
// mapping and key (the key only if the event has one), in that order and contiguous, for a
// caller that needs them too while the event is held (the store's undo log): the copy stays
// valid and unchanged until a Truncate or Reset drops the event.
func (a *Arena) AppendMapping(height uint32, e *MappingEvent) (names []byte) {
	size := len(e.Program) + len(e.Mapping) + len(e.Key) + len(e.Value)
	if a.n == a.capN || a.off+size > a.end {
		a.grow(size)
	}
	ce := (*CEvent)(unsafe.Add(a.evBase, a.n*evSize))
	p := unsafe.Add(a.chunk, a.off)
	ce.Kind, ce.BlockHeight = uint32(e.Kind), height
	a.sum.add(e.Kind, height)
	var end unsafe.Pointer
	if e.Kind == abi.MappingUpdate {
		end = putUpdate(ce, p, e)
		names = unsafe.Slice((*byte)(p), uintptr(end)-uintptr(p)-uintptr(len(e.Value)))
	} else {
		end = putRemoval(ce, p, e)
		names = unsafe.Slice((*byte)(p), uintptr(end)-uintptr(p))
	}
	a.used(p, end)
	return names[:len(names):len(names)]
}

// room makes room for one more event with size payload bytes and returns its struct and
// where its bytes go; used then records the bytes written up to end.
func (a *Arena) room(size int) (*CEvent, unsafe.Pointer) {
	if a.n == a.capN || a.off+size > a.end {
		a.grow(size)
	}
	return (*CEvent)(unsafe.Add(a.evBase, a.n*evSize)), unsafe.Add(a.chunk, a.off)
}

// grow is room's slow path: more event structs, or the next payload chunk.
func (a *Arena) grow(size int) {
	if a.n == a.capN {
		a.evs = grown(a.evs, a.n*evSize, (a.n+1)*evSize)
	}
	if a.off+size > a.end {
		a.nextChunk(size)
	}
	a.sync()
}

func (a *Arena) used(p, end unsafe.Pointer) {
	a.off += int(uintptr(end) - uintptr(p))
	a.n++
}

// nextChunk moves the payload cursor to a chunk with room for size bytes: the next one
// kept from an earlier batch if it is large enough, else a new one at least twice the last.
func (a *Arena) nextChunk(size int) {
	a.cur++
	a.off = 0
	if a.cur < len(a.pay) && len(a.pay[a.cur]) >= size {
		return
	}
	n := max(2*len(a.pay[len(a.pay)-1]), size)
	c := cmem.MustAlloc(n)
	if a.cur < len(a.pay) { // too small for this event: replace it (nothing points into it)
		cmem.Free(a.pay[a.cur])
		a.pay[a.cur] = c
		return
	}
	a.pay = append(a.pay, c)
}

// AppendFrom appends o's events after a's, copying only the event structs: their byte
// fields keep pointing at o's payload, which must therefore stay as it is (no Reset,
// Truncate or Encode of o) for as long as a's events are read.
func (a *Arena) AppendFrom(o *Arena) {
	if o.n == 0 {
		return
	}
	if need := (a.n + o.n) * evSize; need > len(a.evs) {
		a.evs = grown(a.evs, a.n*evSize, need)
	}
	copy(a.evs[a.n*evSize:], o.evs[:o.n*evSize])
	a.n += o.n
	if so := o.Summary(); a.sumOK {
		a.sum.Present |= so.Present
		for k := range a.sum.Counts {
			a.sum.Counts[k] += so.Counts[k]
		}
		a.sum.Min, a.sum.Max = min(a.sum.Min, so.Min), max(a.sum.Max, so.Max)
	}
	a.sync()
}

// Encode writes evs as a contiguous slipstream_event array and returns its address and
// length, replacing what the arena held. Byte fields are copied into the arena once. An
// empty evs returns (0, 0).
func (a *Arena) Encode(evs []abi.Event) (uintptr, int) {
	payload := 0
	for i := range evs {
		payload += evs[i].Size()
	}
	return a.EncodeSized(evs, payload)
}

// EncodeSized is Encode for a caller that already summed the events' Size (one pass over
// the events fewer on the broadcast path). payload must be at least that sum.
func (a *Arena) EncodeSized(evs []abi.Event, payload int) (uintptr, int) {
	a.reserve(len(evs), payload)
	if len(evs) == 0 {
		return 0, 0
	}
	p := a.chunk
	for i := range evs {
		p = put((*CEvent)(unsafe.Add(a.evBase, uintptr(i)*SizeofEvent)), &evs[i], p)
	}
	a.off = int(uintptr(p) - uintptr(a.chunk)) // an Append may follow
	return uintptr(a.evBase), len(evs)
}

// EncodeOne is Encode for a single event, without building a slice.
func (a *Arena) EncodeOne(ev *abi.Event) uintptr {
	a.reserve(1, ev.Size())
	a.off = int(uintptr(put((*CEvent)(a.evBase), ev, a.chunk)) - uintptr(a.chunk))
	return uintptr(a.evBase)
}

// reserve empties the arena for n events whose bytes, payload in all, go into the first
// chunk, remapping what is too small.
func (a *Arena) reserve(n, payload int) {
	a.n = n
	a.sumOK = false
	if n > a.capN || a.cur != 0 || payload > a.end {
		if n*evSize > len(a.evs) {
			a.evs = grown(a.evs, 0, n*evSize)
		}
		if payload > len(a.pay[0]) {
			a.pay[0] = grown(a.pay[0], 0, payload)
		}
		a.cur = 0
		a.sync()
	}
}

// event returns the i-th encoded event.
func (a *Arena) event(i int) *CEvent { return (*CEvent)(unsafe.Pointer(&a.evs[i*evSize])) }

// Addr returns the address of the current encoding's event array (0 when it is empty).
func (a *Arena) Addr() uintptr {
	if a.n == 0 {
		return 0
	}
	return cmem.Addr(a.evs)
}

// Len returns the number of events in the current encoding.
func (a *Arena) Len() int { return a.n }

// Events returns the Go view of the arena's events (see [CEvent.GoEvent]): the byte slices
// alias the arena's memory. The slice is reused by the next call; both are valid as long
// as the events are.
func (a *Arena) Events() []abi.Event {
	a.views = a.views[:0]
	for i := 0; i < a.n; i++ {
		a.views = append(a.views, a.event(i).GoEvent())
	}
	return a.views
}

// put encodes ev as the event ce with its bytes from p on, and returns the address after
// them. The caller made room for everything (Event.Size bounds the bytes), so nothing here
// is bounds-checked: this is the broadcast's hot loop.
func put(ce *CEvent, ev *abi.Event, p unsafe.Pointer) unsafe.Pointer {
	ce.Kind, ce.BlockHeight = uint32(ev.Kind), ev.BlockHeight
	switch ev.Kind {
	case abi.MappingUpdate: // putUpdate's work on ev's fields (no MappingEvent to build)
		*(*[4]uint64)(ce.Union[8:]) = [4]uint64{}
		u := (*CMappingUpdate)(unsafe.Pointer(&ce.Union))
		p = putBytes(p, ev.ProgramID, &u.ProgramID)
		p = putBytes(p, ev.MappingName, &u.MappingName)
		p = putBytes(p, ev.Key, &u.Key)
		p = putBytes(p, ev.Value, &u.Value)
	case abi.MappingRemoval:
		m := MappingEvent{Program: ev.ProgramID, Mapping: ev.MappingName, Key: ev.Key, HasKey: ev.HasKey}
		p = putRemoval(ce, p, &m)
	case abi.StakingReward:
		ce.Union = [12]uint64{}
		s := (*CStakingReward)(unsafe.Pointer(&ce.Union))
		p = putBytes(p, ev.Staker, &s.Staker)
		p = putBytes(p, ev.Validator, &s.Validator)
		s.Reward, s.NewStake = ev.Reward, ev.NewStake
	case abi.Block:
		ce.Union = [12]uint64{}
		p = putBytes(p, ev.Block, &(*CBlock)(unsafe.Pointer(&ce.Union)).Block)
	default:
		ce.Union = [12]uint64{}
	}
	return p
}

// putUpdate writes the union of ce as a MappingUpdate, its bytes from p on.
func putUpdate(ce *CEvent, p unsafe.Pointer, e *MappingEvent) unsafe.Pointer {
	// putBytes writes the member's four fields; only the union's tail needs zeroing.
	*(*[4]uint64)(ce.Union[8:]) = [4]uint64{}
	u := (*CMappingUpdate)(unsafe.Pointer(&ce.Union))
	p = putBytes(p, e.Program, &u.ProgramID)
	p = putBytes(p, e.Mapping, &u.MappingName)
	p = putBytes(p, e.Key, &u.Key)
	return putBytes(p, e.Value, &u.Value)
}

// putRemoval writes the union of ce as a MappingRemoval, its bytes from p on.
func putRemoval(ce *CEvent, p unsafe.Pointer, e *MappingEvent) unsafe.Pointer {
	ce.Union = [12]uint64{}
	r := (*CMappingRemoval)(unsafe.Pointer(&ce.Union))
	p = putBytes(p, e.Program, &r.ProgramID)
	p = putBytes(p, e.Mapping, &r.MappingName)
	if e.HasKey {
		p = putBytes(p, e.Key, &r.Key)
		r.HasKey = 1
	}
	return p
}

// putBytes copies b to p and points dst at the copy; an empty byte string is {NULL, 0}, as
// the header requires.
func putBytes(p unsafe.Pointer, b []byte, dst *CBytes) unsafe.Pointer {
	if len(b) == 0 {
		*dst = CBytes{}
		return p
	}
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	*dst = CBytes{Ptr: uintptr(p), Len: uint64(len(b))}
	return unsafe.Add(p, len(b))
}

// Select returns the events of the current encoding whose kind is in mask, as a
// contiguous array: a compact copy of the matching event structs (pointing at the same
// payload). count is 0 when none match. Each call overwrites the previous Select's copy. A
// caller that knows every kind present is in mask uses Addr and Len instead.
func (a *Arena) Select(mask abi.EventMask) (ptr uintptr, count int) {
	if a.n*evSize > len(a.sel) {
		a.sel = grown(a.sel, 0, a.n*evSize)
	}
	for i := 0; i < a.n; i++ {
		if ce := a.event(i); mask.Has(abi.EventKind(ce.Kind)) {
			*(*CEvent)(unsafe.Pointer(&a.sel[count*evSize])) = *ce
			count++
		}
	}
	if count == 0 {
		return 0, 0
	}
	return cmem.Addr(a.sel), count
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
