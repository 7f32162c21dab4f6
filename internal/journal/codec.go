package journal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/slipstream-go/slipstream/abi"
)

// The segment file format.
//
// A segment starts with the 8-byte magic "SLSJNL01", then records back to back. A record is
//
//	length uint32 LE   the body's length
//	crc    uint32 LE   CRC-32C (Castagnoli) of the body
//	body:
//	  height uvarint   the block height of every event in the record
//	  flags  byte      flagMore: the same append continues in the next record
//	  count  uvarint   the number of events
//	  events           count times: kind uvarint, present uvarint (a bit per non-empty
//	                   field, see the field* constants), then each present field in bit
//	                   order: a byte field as uvarint length + bytes, Reward and NewStake
//	                   as uvarint
//
// A mapping update with 32-byte fields costs 6 bytes over its payload (kind, present, four
// lengths); a record adds 8 + about 7 bytes, shared by its events.
const (
	magic      = "SLSJNL01"
	headerSize = 8 // length + crc

	flagMore = 1

	// maxBody bounds a record a writer makes from several events (a single event larger than
	// it makes one larger record); maxRead bounds what a reader accepts as a length (a torn
	// length field must not make it allocate gigabytes).
	maxBody = 1 << 20
	maxRead = 1 << 30
)

const (
	fieldProgramID = 1 << iota
	fieldMappingName
	fieldKey
	fieldValue
	fieldHasKey
	fieldBlock
	fieldStaker
	fieldValidator
	fieldReward
	fieldNewStake
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt record")

// eventSize is an upper bound of the encoded size of e.
func eventSize(e *abi.Event) int {
	return 2*binary.MaxVarintLen64 + 7*binary.MaxVarintLen32 + 2*binary.MaxVarintLen64 + e.Size()
}

func appendBytes(dst []byte, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// byteField is one of an event's byte-string fields and its presence bit.
type byteField struct {
	bit uint64
	p   *[]byte
}

// uintField is one of an event's integer fields and its presence bit.
type uintField struct {
	bit uint64
	p   *uint64
}

// eventFields lists e's fields that carry a payload, in wire order: the byte strings, then
// the integers (HasKey has its presence bit only). appendEvent and decodeRecord both walk
// these lists, so the encoding and the decoding cannot disagree on the order.
func eventFields(e *abi.Event) ([7]byteField, [2]uintField) {
	return [7]byteField{
			{fieldProgramID, &e.ProgramID}, {fieldMappingName, &e.MappingName}, {fieldKey, &e.Key},
			{fieldValue, &e.Value}, {fieldBlock, &e.Block}, {fieldStaker, &e.Staker},
			{fieldValidator, &e.Validator},
		}, [2]uintField{
			{fieldReward, &e.Reward}, {fieldNewStake, &e.NewStake},
		}
}

// appendEvent encodes e (without its height, which the record carries).
func appendEvent(dst []byte, e *abi.Event) []byte {
	bs, us := eventFields(e)
	var present uint64
	for _, f := range bs {
		if len(*f.p) > 0 {
			present |= f.bit
		}
	}
	if e.HasKey {
		present |= fieldHasKey
	}
	for _, f := range us {
		if *f.p != 0 {
			present |= f.bit
		}
	}
	dst = binary.AppendUvarint(dst, uint64(e.Kind))
	dst = binary.AppendUvarint(dst, present)
	for _, f := range bs {
		if present&f.bit != 0 {
			dst = appendBytes(dst, *f.p)
		}
	}
	for _, f := range us {
		if present&f.bit != 0 {
			dst = binary.AppendUvarint(dst, *f.p)
		}
	}
	return dst
}

// appendRecord encodes one record of evs (all at height h) onto dst.
func appendRecord(dst []byte, h uint32, more bool, evs []abi.Event) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = binary.AppendUvarint(dst, uint64(h))
	flags := byte(0)
	if more {
		flags = flagMore
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(evs)))
	for i := range evs {
		dst = appendEvent(dst, &evs[i])
	}
	body := dst[start+headerSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// decoder reads a record body.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err || n == 0 || n > uint64(len(d.b)) {
		d.err = true
		d.b = nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// header reads a body's height, flags and event count.
func (d *decoder) header() (h uint32, more bool, n int) {
	hv := d.uvarint()
	if len(d.b) == 0 || hv > 1<<32-1 {
		d.err = true
		return 0, false, 0
	}
	flags := d.b[0]
	d.b = d.b[1:]
	nv := d.uvarint()
	if nv > uint64(len(d.b)) { // every event takes at least one byte
		d.err = true
	}
	return uint32(hv), flags&flagMore != 0, int(nv)
}

// decodeBody decodes a record body into evs (appended; the byte fields point into body).
func decodeBody(body []byte, evs []abi.Event) (h uint32, more bool, out []abi.Event, err error) {
	d := decoder{b: body}
	h, more, n := d.header()
	if d.err {
		return 0, false, evs, errCorrupt
	}
	for range n {
		e := abi.Event{BlockHeight: h}
		kind := d.uvarint()
		present := d.uvarint()
		if kind > 1<<32-1 {
			d.err = true
		}
		e.Kind = abi.EventKind(kind)
		e.HasKey = present&fieldHasKey != 0
		bs, us := eventFields(&e)
		for _, f := range bs {
			if present&f.bit != 0 {
				*f.p = d.bytes()
			}
		}
		for _, f := range us {
			if present&f.bit != 0 {
				*f.p = d.uvarint()
			}
		}
		if d.err {
			return 0, false, evs, errCorrupt
		}
		evs = append(evs, e)
	}
	if len(d.b) != 0 {
		return 0, false, evs, errCorrupt
	}
	return h, more, evs, nil
}

// checkRecord validates the record at the start of b (which holds at least its header):
// it returns the body, or ok false when the record is incomplete or its CRC is wrong.
func checkRecord(b []byte) (body []byte, ok bool) {
	if len(b) < headerSize {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxRead || uint64(len(b)-headerSize) < uint64(n) {
		return nil, false
	}
	body = b[headerSize : headerSize+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, false
	}
	return body, true
}
