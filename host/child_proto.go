package host

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/slipstream-go/slipstream/abi"
)

// The wire protocol between the node and a plugin's child process (isolation "process"):
// two pipes, one each way, carrying frames of [u32 length][u8 type][payload], little
// endian. The node sends one request at a time and the child answers it; the child may
// also send log frames at any time (host->log lines, relayed).
//
//	node → child   'I' init: u8 is_reload, str config file, str config JSON
//	               'B' batch: u32 consecutive failures so far, u32 n, n events
//	               'U' unload: on_unload, destroy, close; the child answers 'D' and exits 0
//	child → node   'H' hello (first, before loading: proves the binary serves as a child)
//	               'R' ready: u64 resume height, u8 keeps a position (resume_height), u64 mask,
//	                   u32 ABI version, str name, str library
//	               'E' load failed: error;  'D' unloaded: u8 ok, error
//	               'A' ack: the pass's bookkeeping (ack below)
//	               'L' log: one JSON line of the child's logger
//
// str is u32 length + bytes; an error is u8 sentinel index (wireErrors, 0: none) + str text.
const (
	frameInit   = 'I'
	frameBatch  = 'B'
	frameUnload = 'U'
	frameHello  = 'H'
	frameReady  = 'R'
	frameError  = 'E'
	frameDone   = 'D'
	frameAck    = 'A'
	frameLog    = 'L'
)

// maxFrame bounds a frame a reader accepts (a batch of maxRound large events fits).
const maxFrame = 1 << 30

// errFrame reports a malformed frame: a bug or a corrupted pipe, handled as the child's death.
var errFrame = errors.New("malformed frame from the other process")

// wireErrors are the sentinels an error keeps across the pipe (index+1 on the wire).
var wireErrors = []error{ErrConfigRead, ErrConfigSyntax, ErrConfigInvalid, ErrInvalidName, ErrNoLibpath,
	ErrLibraryLoad, ErrSymbolMissing, ErrIncompatibleABI, ErrInvalidPlugin, ErrAlreadyLoaded, ErrOnLoad,
	ErrResumeHeight, ErrInsecure, ErrHashMismatch, ErrOnUnload}

// remoteError is an error that came over the pipe: the child's text, matching its sentinel.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// enc appends to a frame being built.
type enc struct{ b []byte }

func (e *enc) start(typ byte) { e.b = append(e.b[:0], 0, 0, 0, 0, typ) }
func (e *enc) u8(v byte)      { e.b = append(e.b, v) }
func (e *enc) u32(v uint32)   { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) bytes(v []byte) { e.u32(uint32(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)   { e.u32(uint32(len(v))); e.b = append(e.b, v...) }

func (e *enc) err(err error) {
	idx := byte(0)
	if err != nil {
		for i, s := range wireErrors {
			if errors.Is(err, s) {
				idx = byte(i + 1)
				break
			}
		}
		e.u8(idx)
		e.str(err.Error())
		return
	}
	e.u8(0)
	e.str("")
}

// finish writes the length and returns the frame.
func (e *enc) finish() []byte {
	binary.LittleEndian.PutUint32(e.b, uint32(len(e.b)-4))
	return e.b
}

// event appends one event (every field: a few bytes more than needed, one branch less).
func (e *enc) event(ev *abi.Event) {
	hasKey := byte(0)
	if ev.HasKey {
		hasKey = 1
	}
	e.b = append(e.b, byte(ev.Kind), hasKey)
	e.u32(ev.BlockHeight)
	e.u64(ev.Reward)
	e.u64(ev.NewStake)
	for _, f := range [...][]byte{ev.ProgramID, ev.MappingName, ev.Key, ev.Value, ev.Staker, ev.Validator, ev.Block} {
		e.bytes(f)
	}
}

// dec reads a frame's payload; a short payload sets bad and reads zeros.
type dec struct {
	b   []byte
	bad bool
}

func (d *dec) take(n int) []byte {
	if d.bad || n < 0 || n > len(d.b) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *dec) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *dec) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *dec) bytes() []byte {
	n := d.u32()
	if n > math.MaxInt32 {
		d.bad = true
		return nil
	}
	v := d.take(int(n))
	if len(v) == 0 {
		return nil
	}
	return v
}

func (d *dec) str() string { return string(d.bytes()) }

func (d *dec) err() error {
	idx := d.u8()
	msg := d.str()
	if idx == 0 && msg == "" {
		return nil
	}
	e := &remoteError{msg: msg}
	if idx > 0 && int(idx) <= len(wireErrors) {
		e.sentinel = wireErrors[idx-1]
	}
	return e
}

// events decodes n events into evs (reused), their byte fields pointing into the frame.
func (d *dec) events(evs []abi.Event) []abi.Event {
	n := d.u32()
	if uint64(n) > uint64(len(d.b))/30 { // every event takes at least 30 bytes
		d.bad = true
		return evs[:0]
	}
	evs = evs[:0]
	for i := uint32(0); i < n && !d.bad; i++ {
		var ev abi.Event
		ev.Kind = abi.EventKind(d.u8())
		ev.HasKey = d.u8() != 0
		ev.BlockHeight = d.u32()
		ev.Reward = d.u64()
		ev.NewStake = d.u64()
		ev.ProgramID, ev.MappingName, ev.Key, ev.Value = d.bytes(), d.bytes(), d.bytes(), d.bytes()
		ev.Staker, ev.Validator, ev.Block = d.bytes(), d.bytes(), d.bytes()
		evs = append(evs, ev)
	}
	return evs
}

// readFrame reads one frame into buf (grown as needed) and returns its type and payload.
func readFrame(r *bufio.Reader, buf []byte) (typ byte, payload, newBuf []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n < 1 || n > maxFrame {
		return 0, nil, buf, fmt.Errorf("%w: length %d", errFrame, n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return buf[0], buf[1:], buf, nil
}

// ack is the child's answer to a batch: the slot bookkeeping of its pass (deliver.go), so
// that the node's slot counts, logs and applies the error policy exactly as in process.
type ack struct {
	calls, errors uint64
	consecutive   uint32
	disabled      bool
	halted        bool
	tripped       bool
	stop          cause
	failed        uint32
	kinds         abi.EventMask
	delivered     [abi.KindCount]uint32
	first         firstFailure
	latSum        uint64
	lat           [latencyBuckets]uint64
}

func (e *enc) ack(a *ack) {
	flags := byte(0)
	if a.disabled {
		flags |= 1
	}
	if a.halted {
		flags |= 2
	}
	if a.tripped {
		flags |= 4
	}
	e.u64(a.calls)
	e.u64(a.errors)
	e.u32(a.consecutive)
	e.u8(flags)
	e.u8(byte(a.stop))
	e.u32(a.failed)
	e.u64(uint64(a.kinds))
	for _, n := range a.delivered {
		e.u32(n)
	}
	e.str(a.first.callback)
	e.u32(uint32(a.first.code))
	e.str(a.first.msg)
	e.u64(a.latSum)
	nz := 0
	for _, c := range a.lat {
		if c != 0 {
			nz++
		}
	}
	e.u8(byte(nz))
	for i, c := range a.lat {
		if c != 0 {
			e.u8(byte(i))
			e.u64(c)
		}
	}
}

func (d *dec) ack() ack {
	var a ack
	a.calls, a.errors, a.consecutive = d.u64(), d.u64(), d.u32()
	flags := d.u8()
	a.disabled, a.halted, a.tripped = flags&1 != 0, flags&2 != 0, flags&4 != 0
	a.stop = cause(d.u8())
	if a.stop >= numCauses {
		d.bad = true
	}
	a.failed = d.u32()
	a.kinds = abi.EventMask(d.u64())
	for i := range a.delivered {
		a.delivered[i] = d.u32()
	}
	a.first.callback = d.str()
	a.first.code = int32(d.u32())
	a.first.msg = d.str()
	a.latSum = d.u64()
	for n := int(d.u8()); n > 0 && !d.bad; n-- {
		i := int(d.u8())
		if i >= latencyBuckets {
			d.bad = true
			break
		}
		a.lat[i] = d.u64()
	}
	return a
}
