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
	hint    sizes // the previous block's, for the next one's slices
	general bool  // tests: read every object with the general parser (no canonical fast path)
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
func (r *Reader) Next() (*Block, error) { return r.NextReusing(nil) }

// NextReusing is [Reader.Next], decoding into old's memory where it is large enough: old is
// a block an earlier Next returned that the caller is done with (nil: none). The returned
// block may be old itself; nothing of old (its slices included) may be used after the call.
// A replay that hands each finalized block back so allocates almost nothing per block.
func (r *Reader) NextReusing(old *Block) (*Block, error) {
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
		b, err := decodeBlock(line, &r.hint, old, r.general)
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

// sizes are the lengths of a block's lists: the parser sizes the next block's slices by the
// previous one's (a chain's blocks are alike), instead of growing them from empty.
type sizes struct{ ops, current, next int }

// decodeBlock parses one line (no surrounding whitespace) into a Block and validates it;
// hint holds the previous block's sizes and is updated to this one's. The Block is old (nil:
// a new one), its slices reused where their capacity suffices.
func decodeBlock(line []byte, hint *sizes, old *Block, general bool) (*Block, error) {
	p := parser{s: line, hint: hint, general: general}
	b := old
	if b == nil {
		b = new(Block)
	} else {
		p.spare = spare{b.Ops[:0], b.Current[:0], b.Next[:0]}
		*b = Block{mem: b.mem}
	}
	// Decoded bytes are at most half the line: one array holds them all.
	if cap(b.mem) < len(line)/2 {
		b.mem = make([]byte, 0, len(line)/2)
	}
	p.slab = b.mem[:0]
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
	s     []byte
	i     int
	slab  []byte
	hint  *sizes
	spare spare

	general bool // no canonical fast path (tests compare the two)
}

// spare is the memory of a block handed back for reuse ([Reader.NextReusing]): its lists,
// emptied.
type spare struct {
	ops           []Op
	current, next []StakerEntry
}

// reuse returns s emptied when it can hold n elements, else a new slice with room for n.
func reuse[T any](s []T, n int) []T {
	if cap(s) >= n && s != nil {
		return s[:0]
	}
	return make([]T, 0, n)
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
func (p *parser) hex(what loc) ([]byte, error) {
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
	// One pass without branches: a digit's value is < 16, anything else's 0xff, so the OR
	// of all of them has a high bit only if some character is not a digit.
	var bad byte
	for k := range dst {
		hi, lo := hexVal[src[2*k]], hexVal[src[2*k+1]]
		bad |= hi | lo
		dst[k] = hi<<4 | lo
	}
	if bad > 0x0f {
		for _, c := range src {
			if hexVal[c] == 0xff {
				return nil, fmt.Errorf("%s: %w: character %s", what, ErrBadHex, quoteByte(c))
			}
		}
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
func (p *parser) uint(what loc, max uint64) (uint64, error) {
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
	v, ok := parseDigits(digits)
	if !ok || v > max {
		return 0, fmt.Errorf("%s: %w: %s is out of range (max %d)", what, ErrBadNumber, digits, max)
	}
	p.i = j
	return v, nil
}

// parseDigits is the value of ASCII decimal digits; false when it does not fit in 64 bits.
func parseDigits(digits []byte) (uint64, bool) {
	var v uint64
	for _, c := range digits {
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// boolean parses true or false.
func (p *parser) boolean(what loc) (bool, error) {
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

func (s *seen) mark(bit seen, at loc, name string) error {
	if *s&bit != 0 {
		return fmt.Errorf("%s%w %q", at.prefix(), ErrDuplicateField, name)
	}
	*s |= bit
	return nil
}

// fields parses the object at at whose fields are names (names[i] is marked with the bit
// 1<<i): a name not in names is an ErrUnknownField, one that comes twice an
// ErrDuplicateField, both prefixed with at. It calls field with the index of each name, the
// parser at the value, and returns the fields seen.
func (p *parser) fields(at loc, names []string, field func(i int) error) (seen, error) {
	var s seen
	err := p.object(func(name []byte) error {
		for i, n := range names {
			if string(name) == n {
				if err := s.mark(1<<i, at, n); err != nil {
					return err
				}
				return field(i)
			}
		}
		return unknownField(at, name)
	})
	return s, err
}

// require returns an ErrMissingField error, prefixed with at, for the first of names whose
// bit is in want but not in s.
func (s seen) require(at loc, names []string, want seen) error {
	for i, n := range names {
		if want&(1<<i) != 0 && s&(1<<i) == 0 {
			return fmt.Errorf("%s%w %q", at.prefix(), ErrMissingField, n)
		}
	}
	return nil
}

func unknownField(at loc, name []byte) error {
	return fmt.Errorf("%s%w %q", at.prefix(), ErrUnknownField, name)
}

// loc names a value of a block line in messages ("ops[3].entries[1].key",
// "stakers.next[7].stake"). It is formatted only when a message needs it: a valid line
// builds no strings.
type loc struct {
	list  string // "ops", "stakers.current", "stakers.next"; "" outside a list
	i     int    // the element of list
	entry int    // the element of ops[i].entries, or -1
	field string // a field of what the above names (or of the block); "" for the element itself
}

// top is the block's own field name.
func top(field string) loc { return loc{entry: -1, field: field} }

// elem is element i of list.
func elem(list string, i int) loc { return loc{list: list, i: i, entry: -1} }

// with is l's field f.
func (l loc) with(f string) loc { l.field = f; return l }

// String returns the path, for example "stakers.current[2].stake".
func (l loc) String() string {
	var b []byte
	if l.list != "" {
		b = append(append(append(append(b, l.list...), '['), strconv.Itoa(l.i)...), ']')
	}
	if l.entry >= 0 {
		b = append(append(append(b, ".entries["...), strconv.Itoa(l.entry)...), ']')
	}
	if l.field != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, l.field...)
	}
	return string(b)
}

// prefix is "PATH: " before a message about the object at l, or "" at the top level.
func (l loc) prefix() string {
	if s := l.String(); s != "" {
		return s + ": "
	}
	return ""
}

// blockFields are the top-level object's fields; height and block are required.
var blockFields = []string{"height", "ops", "stakers", "block", "aborted"}

// block parses the top-level object.
func (p *parser) block(b *Block) error {
	s, err := p.fields(top(""), blockFields, func(i int) error {
		var err error
		switch i {
		case 0:
			var v uint64
			v, err = p.uint(top("height"), 1<<32-1)
			b.Height = uint32(v)
		case 1:
			b.Ops = reuse(p.spare.ops, max(p.hint.ops, 8))
			err = p.array(func(i int) error {
				b.Ops = append(b.Ops, Op{})
				if p.opCanonical(&b.Ops[i]) {
					return nil
				}
				return p.op(&b.Ops[i], i)
			})
			p.hint.ops = len(b.Ops)
		case 2:
			err = p.stakers(b)
		case 3:
			b.Bytes, err = p.hex(top("block"))
		case 4:
			b.Aborted, err = p.boolean(top("aborted"))
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
	return s.require(top(""), blockFields, 1<<0|1<<3)
}

// op parses ops[i].
func (p *parser) op(op *Op, i int) error {
	at := elem("ops", i)
	const sOp seen = 1 << 5
	var s seen
	err := p.object(func(name []byte) error {
		var dst *[]byte
		var bit seen
		var field string
		switch string(name) {
		case "op":
			if err := s.mark(sOp, at, "op"); err != nil {
				return err
			}
			v, err := p.str()
			if err != nil {
				return err
			}
			if op.Kind = opKindOf(v); op.Kind == 0 {
				return fmt.Errorf("%s: %w %q", at, ErrUnknownOp, v)
			}
			return nil
		case "program":
			dst, bit, field = &op.Program, fProgram, "program"
		case "mapping":
			dst, bit, field = &op.Mapping, fMapping, "mapping"
		case "key":
			dst, bit, field = &op.Key, fKey, "key"
		case "value":
			dst, bit, field = &op.Value, fValue, "value"
		case "entries":
			if err := s.mark(fEntries, at, "entries"); err != nil {
				return err
			}
			op.Entries = []Entry{}
			return p.array(func(j int) error {
				op.Entries = append(op.Entries, Entry{})
				e := at
				e.entry = j
				return p.entry(&op.Entries[j], e)
			})
		default:
			return unknownField(at, name)
		}
		if err := s.mark(bit, at, field); err != nil {
			return err
		}
		v, err := p.hex(at.with(field))
		*dst = v
		return err
	})
	if err != nil {
		return err
	}
	if s&sOp == 0 {
		return fmt.Errorf("%s: %w %q", at, ErrMissingField, "op")
	}
	want := seen(opFields[op.Kind])
	for k, name := range fieldNames {
		bit := seen(1) << k
		if want&bit != 0 && s&bit == 0 {
			return fmt.Errorf("%s: %v: %w %q", at, op.Kind, ErrMissingField, name)
		}
		if want&bit == 0 && s&bit != 0 {
			return fmt.Errorf("%s: %v: %w: %q", at, op.Kind, ErrFieldNotAllowed, name)
		}
	}
	return nil
}

// entryFields are the fields of a replace_mapping entry, both required.
var entryFields = []string{"key", "value"}

// entry parses one {key, value} of a replace_mapping, at at.
func (p *parser) entry(e *Entry, at loc) error {
	s, err := p.fields(at, entryFields, func(i int) error {
		var err error
		if i == 0 {
			e.Key, err = p.hex(at.with("key"))
		} else {
			e.Value, err = p.hex(at.with("value"))
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.require(at, entryFields, 0b11)
}

// stakersFields are the fields of the stakers object, both required.
var stakersFields = []string{"current", "next"}

// stakers parses the stakers object.
func (p *parser) stakers(b *Block) error {
	at := top("stakers")
	s, err := p.fields(at, stakersFields, func(i int) error {
		dst, list, n, sp := &b.Current, "stakers.current", p.hint.current, p.spare.current
		if i == 1 {
			dst, list, n, sp = &b.Next, "stakers.next", p.hint.next, p.spare.next
		}
		*dst = reuse(sp, n)
		err := p.array(func(i int) error {
			*dst = append(*dst, StakerEntry{})
			if p.stakerCanonical(&(*dst)[i]) {
				return nil
			}
			return p.staker(&(*dst)[i], elem(list, i))
		})
		if i == 1 {
			p.hint.next = len(*dst)
		} else {
			p.hint.current = len(*dst)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.require(at, stakersFields, 0b11)
}

// stakerFields are the fields of a staker entry, all required.
var stakerFields = []string{"staker", "validator", "stake"}

// staker parses one {staker, validator, stake}, at at.
func (p *parser) staker(e *StakerEntry, at loc) error {
	s, err := p.fields(at, stakerFields, func(i int) error {
		var err error
		switch i {
		case 0:
			e.Staker, err = p.hex(at.with("staker"))
		case 1:
			e.Validator, err = p.hex(at.with("validator"))
		case 2:
			e.Stake, err = p.uint(at.with("stake"), 1<<64-1)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.require(at, stakerFields, 0b111)
}

// The objects a chain line holds most of, ops and stakers, are read by a fast path when
// they are in the canonical form the Writer writes (fields in order, no whitespace). It gives
// up on anything else — another order, whitespace, an entries list, any error — and the
// general parser reads the object again from its start: same block, same messages.

// lit consumes s if the input continues with it.
func (p *parser) lit(s string) bool {
	if len(p.s)-p.i >= len(s) && string(p.s[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// canonicalKeys are the separators before the byte-string fields of an op, in fieldNames
// order.
var canonicalKeys = [...]string{`,"program":`, `,"mapping":`, `,"key":`, `,"value":`}

// opCanonical reads {"op":NAME,…} with the fields of NAME's kind in fieldNames order; an op
// with entries is left to the general parser. False: nothing consumed, op zero.
func (p *parser) opCanonical(op *Op) bool {
	if p.general {
		return false
	}
	i, n := p.i, len(p.slab)
	if p.lit(`{"op":`) {
		if name, err := p.str(); err == nil {
			if k := opKindOf(name); k != 0 && opFields[k]&fEntries == 0 {
				op.Kind = k
				dst := [...]*[]byte{&op.Program, &op.Mapping, &op.Key, &op.Value}
				ok := true
				for f := range dst {
					if opFields[k]&(1<<f) == 0 {
						continue
					}
					var err error
					if ok = p.lit(canonicalKeys[f]); ok {
						*dst[f], err = p.hex(loc{})
						ok = err == nil
					}
					if !ok {
						break
					}
				}
				if ok && p.lit("}") {
					return true
				}
			}
		}
	}
	*op = Op{}
	p.i, p.slab = i, p.slab[:n]
	return false
}

// stakerCanonical reads {"staker":HEX,"validator":HEX,"stake":N}. False: nothing consumed,
// e zero.
func (p *parser) stakerCanonical(e *StakerEntry) bool {
	if p.general {
		return false
	}
	i, n := p.i, len(p.slab)
	var err error
	if p.lit(`{"staker":`) {
		if e.Staker, err = p.hex(loc{}); err == nil && p.lit(`,"validator":`) {
			if e.Validator, err = p.hex(loc{}); err == nil && p.lit(`,"stake":`) {
				if e.Stake, err = p.uint(loc{}, 1<<64-1); err == nil && p.lit("}") {
					return true
				}
			}
		}
	}
	*e = StakerEntry{}
	p.i, p.slab = i, p.slab[:n]
	return false
}
