package chain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxLineSize is the longest line a [Reader] accepts unless [Reader.SetMaxLineSize]
// says otherwise.
const DefaultMaxLineSize = 256 << 20

// SyntaxError is the error a [Reader] returns for a line that is not a valid block. Its
// message is "file:line: what is wrong"; Err is the cause and matches one of the package's
// sentinel errors (ErrSyntax, ErrBadHex, ErrHeightOrder, …) with [errors.Is].
type SyntaxError struct {
	File string // the name given to NewReader
	Line int    // 1-based line number
	Err  error
}

// Error returns "file:line: what is wrong".
func (e *SyntaxError) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Reader reads blocks from a chain file, one line at a time. Its memory is bounded by the
// longest line (its buffer is reused), never by the file. Empty and blank lines are skipped.
// It checks every line strictly (see FORMAT.md), including that heights strictly increase.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	name    string
	line    int
	buf     []byte
	max     int
	prev    uint32
	hasPrev bool
	err     error // sticky: once Next failed, it fails the same way
}

// NewReader returns a Reader that reads r; name (usually the file name) prefixes the
// messages of its errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), name: name, max: DefaultMaxLineSize}
}

// SetMaxLineSize sets the longest line (in bytes, without its newline) the reader accepts;
// a longer line is an error matching [ErrLineTooLong]. n <= 0 restores the default.
func (r *Reader) SetMaxLineSize(n int) {
	if n <= 0 {
		n = DefaultMaxLineSize
	}
	r.max = n
}

// Line returns the number of the last line read (1-based; 0 before the first).
func (r *Reader) Line() int { return r.line }

// Next returns the next block, or io.EOF after the last. A malformed line gives a
// [*SyntaxError]; an error of the underlying reader is returned wrapped, with the file name.
// After an error every further call returns the same error.
//
// The returned block is the caller's: the reader does not reuse it. Its byte slices share
// one backing array per block.
func (r *Reader) Next() (*Block, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			return nil, err
		}
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		b, err := decodeBlock(line)
		if err == nil && r.hasPrev && b.Height <= r.prev {
			err = fmt.Errorf("%w: height %d is not greater than the previous block's %d", ErrHeightOrder, b.Height, r.prev)
		}
		if err != nil {
			r.err = &SyntaxError{File: r.name, Line: r.line, Err: err}
			return nil, r.err
		}
		r.prev, r.hasPrev = b.Height, true
		return b, nil
	}
}

// readLine returns the next line without its newline; io.EOF when there is none.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(r.buf)+len(chunk) > r.max+1 { // +1: the newline
			r.line++
			return nil, &SyntaxError{File: r.name, Line: r.line, Err: fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.max)}
		}
		switch {
		case err == nil:
			r.line++
			if len(r.buf) == 0 {
				return chunk[:len(chunk)-1], nil // no copy: valid until the next read
			}
			r.buf = append(r.buf, chunk[:len(chunk)-1]...)
			return r.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			r.buf = append(r.buf, chunk...)
		case err == io.EOF:
			r.buf = append(r.buf, chunk...)
			if len(r.buf) == 0 {
				return nil, io.EOF
			}
			r.line++
			return r.buf, nil // last line without a newline
		default:
			return nil, fmt.Errorf("%s: line %d: %w", r.name, r.line+1, err)
		}
	}
}

// decodeBlock parses one line (no surrounding whitespace) into a new Block and validates it.
func decodeBlock(line []byte) (*Block, error) {
	p := parser{s: line}
	// Decoded bytes are at most half the line: one allocation holds them all.
	p.slab = make([]byte, 0, len(line)/2)
	b := new(Block)
	if err := p.block(b); err != nil {
		return nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// parser is a strict recursive-descent parser for the one JSON shape of a block line.
type parser struct {
	s    []byte
	i    int
	slab []byte
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at column %d: %s", ErrSyntax, p.i+1, fmt.Sprintf(format, args...))
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// describe names what is at the current position, for messages.
func (p *parser) describe() string {
	if p.i >= len(p.s) {
		return "end of line"
	}
	c := p.s[p.i]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) expect(c byte) error {
	p.ws()
	if p.skip(c) {
		return nil
	}
	return p.errorf("expected %q, found %s", c, p.describe())
}

// object parses an object, calling field for each member with the parser positioned at the
// value. Duplicate names are found by field (it knows the names).
func (p *parser) object(field func(name []byte) error) error {
	return p.list('{', '}', func(int) error {
		name, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		p.ws()
		return field(name)
	})
}

// array parses an array, calling elem for each element with the parser at the element.
func (p *parser) array(elem func(i int) error) error { return p.list('[', ']', elem) }

// list parses the comma-separated members of an object or an array between open and
// closing, calling member for each (numbered from 0) with the parser at the member.
func (p *parser) list(open, closing byte, member func(i int) error) error {
	if err := p.expect(open); err != nil {
		return err
	}
	p.ws()
	if p.skip(closing) {
		return nil
	}
	for n := 0; ; n++ {
		p.ws()
		if err := member(n); err != nil {
			return err
		}
		p.ws()
		if p.skip(',') {
			continue
		}
		if p.skip(closing) {
			return nil
		}
		return p.errorf("expected ',' or '%c', found %s", closing, p.describe())
	}
}

// skip consumes c if it is the next byte, and says whether it did.
func (p *parser) skip(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str parses a string without escapes (the format never needs them) and returns its bytes.
func (p *parser) str() ([]byte, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return nil, p.errorf("expected a string, found %s", p.describe())
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return p.s[start:j], nil
		case c == '\\':
			p.i = j
			return nil, p.errorf("escape sequences are not allowed in strings")
		case c < 0x20:
			p.i = j
			return nil, p.errorf("control character in string")
		}
	}
	p.i = len(p.s)
	return nil, p.errorf("unterminated string")
}

var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// hex parses a string of lowercase hex digits and returns its bytes (never nil), carved from
// the block's slab.
func (p *parser) hex(what string) ([]byte, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return nil, fmt.Errorf("%s: %w: expected a hex string, found %s", what, ErrBadHex, p.describe())
	}
	start := p.i + 1
	end := bytes.IndexByte(p.s[start:], '"')
	if end < 0 {
		p.i = len(p.s)
		return nil, p.errorf("unterminated string")
	}
	end += start
	src := p.s[start:end]
	if len(src)%2 != 0 {
		return nil, fmt.Errorf("%s: %w: odd length %d", what, ErrBadHex, len(src))
	}
	n := len(src) / 2
	off := len(p.slab)
	if off+n > cap(p.slab) { // cannot happen: the slab holds half the line
		p.slab = append(p.slab, make([]byte, n)...)[:off]
	}
	dst := p.slab[off : off+n : off+n]
	for k := 0; k < n; k++ {
		hi, lo := hexVal[src[2*k]], hexVal[src[2*k+1]]
		if hi|lo == 0xff {
			bad := src[2*k]
			if hi != 0xff {
				bad = src[2*k+1]
			}
			return nil, fmt.Errorf("%s: %w: character %s", what, ErrBadHex, quoteByte(bad))
		}
		dst[k] = hi<<4 | lo
	}
	p.slab = p.slab[:off+n]
	p.i = end + 1
	return dst, nil
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

// uint parses a non-negative JSON integer no greater than max.
func (p *parser) uint(what string, max uint64) (uint64, error) {
	start := p.i
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	digits := p.s[start:j]
	// A number continues with a fraction, an exponent or a sign: not an unsigned integer.
	if len(digits) == 0 || (j < len(p.s) && (p.s[j] == '.' || p.s[j] == 'e' || p.s[j] == 'E')) {
		return 0, fmt.Errorf("%s: %w: expected an unsigned integer, found %s", what, ErrBadNumber, p.describe())
	}
	if len(digits) > 1 && digits[0] == '0' {
		return 0, fmt.Errorf("%s: %w: leading zero in %s", what, ErrBadNumber, digits)
	}
	v, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("%s: %w: %s is out of range (max %d)", what, ErrBadNumber, digits, max)
	}
	p.i = j
	return v, nil
}

// boolean parses true or false.
func (p *parser) boolean(what string) (bool, error) {
	switch {
	case bytes.HasPrefix(p.s[p.i:], []byte("true")):
		p.i += 4
		return true, nil
	case bytes.HasPrefix(p.s[p.i:], []byte("false")):
		p.i += 5
		return false, nil
	}
	return false, fmt.Errorf("%s: %w: expected true or false, found %s", what, ErrSyntax, p.describe())
}

// seen tracks the fields of one object, for duplicate and missing field checks.
type seen uint16

func (s *seen) mark(bit seen, path, name string) error {
	if *s&bit != 0 {
		return fmt.Errorf("%s%w %q", path, ErrDuplicateField, name)
	}
	*s |= bit
	return nil
}

// fields parses an object whose fields are names (names[i] is marked with the bit 1<<i): a
// name not in names is an ErrUnknownField, one that comes twice an ErrDuplicateField, both
// prefixed with prefix. It calls field with the index of each name, the parser at the value,
// and returns the fields seen.
func (p *parser) fields(prefix string, names []string, field func(i int) error) (seen, error) {
	var s seen
	err := p.object(func(name []byte) error {
		for i, n := range names {
			if string(name) == n {
				if err := s.mark(1<<i, prefix, n); err != nil {
					return err
				}
				return field(i)
			}
		}
		return unknownField(prefix, name)
	})
	return s, err
}

// require returns an ErrMissingField error, prefixed with prefix, for the first of names
// whose bit is in want but not in s.
func (s seen) require(prefix string, names []string, want seen) error {
	for i, n := range names {
		if want&(1<<i) != 0 && s&(1<<i) == 0 {
			return fmt.Errorf("%s%w %q", prefix, ErrMissingField, n)
		}
	}
	return nil
}

func unknownField(path string, name []byte) error {
	return fmt.Errorf("%s%w %q", path, ErrUnknownField, name)
}

// blockFields are the top-level object's fields; height and block are required.
var blockFields = []string{"height", "ops", "stakers", "block", "aborted"}

// block parses the top-level object.
func (p *parser) block(b *Block) error {
	s, err := p.fields("", blockFields, func(i int) error {
		var err error
		switch i {
		case 0:
			var v uint64
			v, err = p.uint("height", 1<<32-1)
			b.Height = uint32(v)
		case 1:
			b.Ops = make([]Op, 0, 8)
			err = p.array(func(i int) error {
				b.Ops = append(b.Ops, Op{})
				return p.op(&b.Ops[i], i)
			})
		case 2:
			err = p.stakers(b)
		case 3:
			b.Bytes, err = p.hex("block")
		case 4:
			b.Aborted, err = p.boolean("aborted")
		}
		return err
	})
	if err != nil {
		return err
	}
	p.ws()
	if p.i != len(p.s) {
		return p.errorf("unexpected %s after the block object", p.describe())
	}
	return s.require("", blockFields, 1<<0|1<<3)
}

// op parses ops[i].
func (p *parser) op(op *Op, i int) error {
	path := "ops[" + strconv.Itoa(i) + "]"
	const sOp seen = 1 << 5
	var s seen
	err := p.object(func(name []byte) error {
		var dst *[]byte
		var bit seen
		switch string(name) {
		case "op":
			if err := s.mark(sOp, path+": ", "op"); err != nil {
				return err
			}
			v, err := p.str()
			if err != nil {
				return err
			}
			if op.Kind = opKindOf(v); op.Kind == 0 {
				return fmt.Errorf("%s: %w %q", path, ErrUnknownOp, v)
			}
			return nil
		case "program":
			dst, bit = &op.Program, fProgram
		case "mapping":
			dst, bit = &op.Mapping, fMapping
		case "key":
			dst, bit = &op.Key, fKey
		case "value":
			dst, bit = &op.Value, fValue
		case "entries":
			if err := s.mark(fEntries, path+": ", "entries"); err != nil {
				return err
			}
			op.Entries = []Entry{}
			return p.array(func(j int) error {
				op.Entries = append(op.Entries, Entry{})
				return p.entry(&op.Entries[j], path+".entries["+strconv.Itoa(j)+"]")
			})
		default:
			return unknownField(path+": ", name)
		}
		if err := s.mark(bit, path+": ", string(name)); err != nil {
			return err
		}
		v, err := p.hex(path + "." + string(name))
		*dst = v
		return err
	})
	if err != nil {
		return err
	}
	if s&sOp == 0 {
		return fmt.Errorf("%s: %w %q", path, ErrMissingField, "op")
	}
	want := seen(opFields[op.Kind])
	for k, name := range fieldNames {
		bit := seen(1) << k
		if want&bit != 0 && s&bit == 0 {
			return fmt.Errorf("%s: %v: %w %q", path, op.Kind, ErrMissingField, name)
		}
		if want&bit == 0 && s&bit != 0 {
			return fmt.Errorf("%s: %v: %w: %q", path, op.Kind, ErrFieldNotAllowed, name)
		}
	}
	return nil
}

// entryFields are the fields of a replace_mapping entry, both required.
var entryFields = []string{"key", "value"}

// entry parses one {key, value} of a replace_mapping.
func (p *parser) entry(e *Entry, path string) error {
	prefix := path + ": "
	s, err := p.fields(prefix, entryFields, func(i int) error {
		var err error
		if i == 0 {
			e.Key, err = p.hex(path + ".key")
		} else {
			e.Value, err = p.hex(path + ".value")
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.require(prefix, entryFields, 0b11)
}

// stakersFields are the fields of the stakers object, both required.
var stakersFields = []string{"current", "next"}

// stakers parses the stakers object.
func (p *parser) stakers(b *Block) error {
	s, err := p.fields("stakers: ", stakersFields, func(i int) error {
		dst, path := &b.Current, "stakers.current"
		if i == 1 {
			dst, path = &b.Next, "stakers.next"
		}
		*dst = []StakerEntry{}
		return p.array(func(i int) error {
			*dst = append(*dst, StakerEntry{})
			return p.staker(&(*dst)[i], path+"["+strconv.Itoa(i)+"]")
		})
	})
	if err != nil {
		return err
	}
	return s.require("stakers: ", stakersFields, 0b11)
}

// stakerFields are the fields of a staker entry, all required.
var stakerFields = []string{"staker", "validator", "stake"}

// staker parses one {staker, validator, stake}.
func (p *parser) staker(e *StakerEntry, path string) error {
	prefix := path + ": "
	s, err := p.fields(prefix, stakerFields, func(i int) error {
		var err error
		switch i {
		case 0:
			e.Staker, err = p.hex(path + ".staker")
		case 1:
			e.Validator, err = p.hex(path + ".validator")
		case 2:
			e.Stake, err = p.uint(path+".stake", 1<<64-1)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.require(prefix, stakerFields, 0b111)
}
