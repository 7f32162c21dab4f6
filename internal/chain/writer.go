package chain

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
)

// Writer writes blocks in the canonical form of the format: one line per block, fields in
// a fixed order, lowercase hex, no spaces (see FORMAT.md). It issues one Write per block to
// the underlying writer, so wrap a file or a terminal in a [bufio.Writer] for throughput.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	buf     []byte
	prev    uint32
	hasPrev bool
	err     error
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write validates b ([Block.Validate]), checks that its height is greater than the previous
// block's, and writes its line. An error of the underlying writer is sticky: every later
// Write returns it.
func (w *Writer) Write(b *Block) error {
	if w.err != nil {
		return w.err
	}
	if err := b.Validate(); err != nil {
		return fmt.Errorf("block %d: %w", b.Height, err)
	}
	if w.hasPrev && b.Height <= w.prev {
		return fmt.Errorf("block %d: %w: the previous block's height is %d", b.Height, ErrHeightOrder, w.prev)
	}
	w.buf = AppendBlock(w.buf[:0], b)
	w.buf = append(w.buf, '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("write block %d: %w", b.Height, err)
		return w.err
	}
	w.prev, w.hasPrev = b.Height, true
	if cap(w.buf) > 64<<20 { // don't keep a huge buffer after an exceptional block
		w.buf = nil
	}
	return nil
}

// AppendBlock appends the canonical line of b (without a newline) to dst and returns it. It
// does not validate b.
func AppendBlock(dst []byte, b *Block) []byte {
	dst = append(dst, `{"height":`...)
	dst = strconv.AppendUint(dst, uint64(b.Height), 10)
	dst = append(dst, `,"ops":`...)
	dst = appendArray(dst, b.Ops, appendOp)
	dst = append(dst, `,"stakers":{"current":`...)
	dst = appendArray(dst, b.Current, appendStaker)
	dst = append(dst, `,"next":`...)
	dst = appendArray(dst, b.Next, appendStaker)
	dst = append(dst, `},"block":`...)
	dst = appendHex(dst, b.Bytes)
	if b.Aborted {
		dst = append(dst, `,"aborted":true`...)
	}
	return append(dst, '}')
}

func appendOp(dst []byte, op *Op) []byte {
	dst = append(dst, `{"op":"`...)
	dst = append(dst, op.Kind.String()...)
	dst = append(dst, '"')
	fields := opFields[0]
	if op.Kind.Valid() {
		fields = opFields[op.Kind]
	}
	// The byte-string fields in fieldNames order (bit 1<<i is fieldNames[i]).
	for i, v := range [...][]byte{op.Program, op.Mapping, op.Key, op.Value} {
		if fields&(1<<i) != 0 {
			dst = append(dst, `,"`...)
			dst = append(dst, fieldNames[i]...)
			dst = append(dst, `":`...)
			dst = appendHex(dst, v)
		}
	}
	if fields&fEntries != 0 {
		dst = append(dst, `,"entries":`...)
		dst = appendArray(dst, op.Entries, appendEntry)
	}
	return append(dst, '}')
}

// appendArray appends the JSON array of xs, each element by elem.
func appendArray[T any](dst []byte, xs []T, elem func(dst []byte, x *T) []byte) []byte {
	dst = append(dst, '[')
	for i := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, &xs[i])
	}
	return append(dst, ']')
}

func appendEntry(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"key":`...)
	dst = appendHex(dst, e.Key)
	dst = append(dst, `,"value":`...)
	dst = appendHex(dst, e.Value)
	return append(dst, '}')
}

func appendStaker(dst []byte, s *StakerEntry) []byte {
	dst = append(dst, `{"staker":`...)
	dst = appendHex(dst, s.Staker)
	dst = append(dst, `,"validator":`...)
	dst = appendHex(dst, s.Validator)
	dst = append(dst, `,"stake":`...)
	dst = strconv.AppendUint(dst, s.Stake, 10)
	return append(dst, '}')
}

func appendHex(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, b)
	return append(dst, '"')
}

// MarshalJSON returns the block's canonical line (see [AppendBlock]) after validating it.
func (b *Block) MarshalJSON() ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return AppendBlock(nil, b), nil
}

// UnmarshalJSON parses one block in the format, as strictly as the [Reader] does (except for
// the height order, which needs the previous block).
func (b *Block) UnmarshalJSON(data []byte) error {
	v, err := decodeBlock(trimSpace(data), new(sizes), nil, false)
	if err != nil {
		return err
	}
	*b = *v
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Decode parses one line of the format into a new Block, as strictly as the [Reader] does
// (except for the height order). The block does not share memory with line.
func Decode(line []byte) (*Block, error) { return decodeBlock(trimSpace(line), new(sizes), nil, false) }
