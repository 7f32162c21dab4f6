package chain

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every block of src, stopping at the first error (io.EOF gives nil).
func readAll(t *testing.T, name, src string) ([]*Block, error) {
	t.Helper()
	r := NewReader(strings.NewReader(src), name)
	var out []*Block
	for {
		b, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
}

const (
	lineH1 = `{"height":1,"ops":[],"stakers":{"current":[],"next":[]},"block":"00"}`
	lineH2 = `{"height":2,"ops":[],"stakers":{"current":[],"next":[]},"block":"01"}`
	prog   = `"program":"6161"`
	mapp   = `"mapping":"6262"`
)

func TestReaderValid(t *testing.T) {
	full := `{"height":7,"ops":[` +
		`{"op":"initialize_mapping",` + prog + `,` + mapp + `},` +
		`{"op":"insert",` + prog + `,` + mapp + `,"key":"01","value":"0a00000000000000"},` +
		`{"op":"update",` + prog + `,` + mapp + `,"key":"01","value":"0b00000000000000"},` +
		`{"op":"remove",` + prog + `,` + mapp + `,"key":"02"},` +
		`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[{"key":"03","value":"04"},{"key":"05","value":"06"}]},` +
		`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[]},` +
		`{"op":"remove_mapping",` + prog + `,` + mapp + `},` +
		`{"op":"remove_program",` + prog + `}],` +
		`"stakers":{"current":[{"staker":"aa","validator":"bb","stake":100},{"staker":"cc","validator":"bb","stake":18446744073709551615}],` +
		`"next":[{"staker":"aa","validator":"bb","stake":101}]},"block":"deadbeef","aborted":true}`
	want := &Block{
		Height: 7,
		Ops: []Op{
			{Kind: OpInitializeMapping, Program: []byte("aa"), Mapping: []byte("bb")},
			{Kind: OpInsert, Program: []byte("aa"), Mapping: []byte("bb"), Key: []byte{1}, Value: []byte{10, 0, 0, 0, 0, 0, 0, 0}},
			{Kind: OpUpdate, Program: []byte("aa"), Mapping: []byte("bb"), Key: []byte{1}, Value: []byte{11, 0, 0, 0, 0, 0, 0, 0}},
			{Kind: OpRemove, Program: []byte("aa"), Mapping: []byte("bb"), Key: []byte{2}},
			{Kind: OpReplaceMapping, Program: []byte("aa"), Mapping: []byte("bb"), Entries: []Entry{{[]byte{3}, []byte{4}}, {[]byte{5}, []byte{6}}}},
			{Kind: OpReplaceMapping, Program: []byte("aa"), Mapping: []byte("bb"), Entries: []Entry{}},
			{Kind: OpRemoveMapping, Program: []byte("aa"), Mapping: []byte("bb")},
			{Kind: OpRemoveProgram, Program: []byte("aa")},
		},
		Current: []StakerEntry{{[]byte{0xaa}, []byte{0xbb}, 100}, {[]byte{0xcc}, []byte{0xbb}, 1<<64 - 1}},
		Next:    []StakerEntry{{[]byte{0xaa}, []byte{0xbb}, 101}},
		Bytes:   []byte{0xde, 0xad, 0xbe, 0xef},
		Aborted: true,
	}
	tests := []struct {
		name string
		src  string
		want []*Block
	}{
		{"full", full + "\n", []*Block{want}},
		{"no trailing newline", full, []*Block{want}},
		{"empty file", "", nil},
		{"only blank lines", "\n\n  \t\n\r\n", nil},
		{"blank lines between", "\n" + lineH1 + "\n\n   \n" + lineH2 + "\n\n", []*Block{{Height: 1, Ops: []Op{}, Current: []StakerEntry{}, Next: []StakerEntry{}, Bytes: []byte{0}}, {Height: 2, Ops: []Op{}, Current: []StakerEntry{}, Next: []StakerEntry{}, Bytes: []byte{1}}}},
		{"CRLF", lineH1 + "\r\n" + lineH2 + "\r\n", []*Block{{Height: 1, Ops: []Op{}, Current: []StakerEntry{}, Next: []StakerEntry{}, Bytes: []byte{0}}, {Height: 2, Ops: []Op{}, Current: []StakerEntry{}, Next: []StakerEntry{}, Bytes: []byte{1}}}},
		{"minimal: ops and stakers optional, empty block", `{"height":0,"block":""}`, []*Block{{Height: 0, Bytes: []byte{}}}},
		{"whitespace inside JSON", ` { "height" : 4294967295 , "block" : "ff" , "aborted" : false } `, []*Block{{Height: 1<<32 - 1, Bytes: []byte{0xff}}}},
		{"field order free", `{"block":"ff","stakers":{"next":[],"current":[]},"ops":[{"mapping":"6262","op":"remove_mapping","program":"6161"}],"height":3}`,
			[]*Block{{Height: 3, Bytes: []byte{0xff}, Current: []StakerEntry{}, Next: []StakerEntry{}, Ops: []Op{{Kind: OpRemoveMapping, Program: []byte("aa"), Mapping: []byte("bb")}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, "f.ndjson", tt.src)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d blocks, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if g, w := AppendBlock(nil, got[i]), AppendBlock(nil, tt.want[i]); !bytes.Equal(g, w) {
					t.Errorf("block %d:\n got %s\nwant %s", i, g, w)
				}
				if !blocksEqual(got[i], tt.want[i]) {
					t.Errorf("block %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// blocksEqual compares blocks field by field (nil and empty slices are equal).
func blocksEqual(a, b *Block) bool {
	if a.Height != b.Height || a.Aborted != b.Aborted || !bytes.Equal(a.Bytes, b.Bytes) ||
		len(a.Ops) != len(b.Ops) || !stakersEqual(a.Current, b.Current) || !stakersEqual(a.Next, b.Next) {
		return false
	}
	for i := range a.Ops {
		x, y := &a.Ops[i], &b.Ops[i]
		if x.Kind != y.Kind || !bytes.Equal(x.Program, y.Program) || !bytes.Equal(x.Mapping, y.Mapping) ||
			!bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) || len(x.Entries) != len(y.Entries) {
			return false
		}
		for j := range x.Entries {
			if !bytes.Equal(x.Entries[j].Key, y.Entries[j].Key) || !bytes.Equal(x.Entries[j].Value, y.Entries[j].Value) {
				return false
			}
		}
	}
	return true
}

func stakersEqual(a, b []StakerEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Staker, b[i].Staker) || !bytes.Equal(a[i].Validator, b[i].Validator) || a[i].Stake != b[i].Stake {
			return false
		}
	}
	return true
}

func TestReaderErrors(t *testing.T) {
	op := func(body string) string { return `{"height":1,"ops":[` + body + `],"block":""}` }
	stk := func(body string) string { return `{"height":1,"stakers":` + body + `,"block":""}` }
	tests := []struct {
		name string
		src  string
		is   error
		msg  string
	}{
		{"not JSON", "hello", ErrSyntax, `c.ndjson:1: malformed JSON at column 1: expected '{', found 'h'`},
		{"array", "[]", ErrSyntax, `c.ndjson:1: malformed JSON at column 1: expected '{', found '['`},
		{"truncated", `{"height":1,"block":"00"`, ErrSyntax, `c.ndjson:1: malformed JSON at column 25: expected ',' or '}', found end of line`},
		{"trailing garbage", `{"height":1,"block":"00"} x`, ErrSyntax, `c.ndjson:1: malformed JSON at column 27: unexpected 'x' after the block object`},
		{"two objects", lineH1 + lineH2, ErrSyntax, `c.ndjson:1: malformed JSON at column 70: unexpected '{' after the block object`},
		{"trailing comma", `{"height":1,"block":"00",}`, ErrSyntax, `c.ndjson:1: malformed JSON at column 26: expected a string, found '}'`},
		{"unterminated string", `{"height":1,"block":"00`, ErrSyntax, `c.ndjson:1: malformed JSON at column 24: unterminated string`},
		{"escape", `{"height":1,"bl\u006fck":"00"}`, ErrSyntax, `c.ndjson:1: malformed JSON at column 16: escape sequences are not allowed in strings`},
		{"control char", "{\"height\":1,\"bl\x01ock\":\"00\"}", ErrSyntax, `c.ndjson:1: malformed JSON at column 16: control character in string`},
		{"unknown field", `{"height":1,"block":"00","extra":1}`, ErrUnknownField, `c.ndjson:1: unknown field "extra"`},
		{"duplicate field", `{"height":1,"height":2,"block":"00"}`, ErrDuplicateField, `c.ndjson:1: duplicate field "height"`},
		{"missing height", `{"block":"00"}`, ErrMissingField, `c.ndjson:1: missing field "height"`},
		{"missing block", `{"height":1}`, ErrMissingField, `c.ndjson:1: missing field "block"`},
		{"negative height", `{"height":-1,"block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: expected an unsigned integer, found '-'`},
		{"float height", `{"height":1.5,"block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: expected an unsigned integer, found '1'`},
		{"exponent height", `{"height":1e3,"block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: expected an unsigned integer, found '1'`},
		{"leading zero", `{"height":01,"block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: leading zero in 01`},
		{"height overflow", `{"height":4294967296,"block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: 4294967296 is out of range (max 4294967295)`},
		{"string height", `{"height":"1","block":"00"}`, ErrBadNumber, `c.ndjson:1: height: invalid number: expected an unsigned integer, found '"'`},
		{"null block", `{"height":1,"block":null}`, ErrBadHex, `c.ndjson:1: block: invalid hex: expected a hex string, found 'n'`},
		{"odd hex", `{"height":1,"block":"abc"}`, ErrBadHex, `c.ndjson:1: block: invalid hex: odd length 3`},
		{"uppercase hex", `{"height":1,"block":"AB"}`, ErrBadHex, `c.ndjson:1: block: invalid hex: character 'A'`},
		{"non-hex", `{"height":1,"block":"0g"}`, ErrBadHex, `c.ndjson:1: block: invalid hex: character 'g'`},
		{"aborted not bool", `{"height":1,"block":"00","aborted":1}`, ErrSyntax, `c.ndjson:1: aborted: malformed JSON: expected true or false, found '1'`},
		{"ops not array", `{"height":1,"ops":{},"block":"00"}`, ErrSyntax, `c.ndjson:1: malformed JSON at column 19: expected '[', found '{'`},
		{"unknown op", op(`{"op":"upsert",` + prog + `}`), ErrUnknownOp, `c.ndjson:1: ops[0]: unknown op "upsert"`},
		{"missing op", op(`{` + prog + `}`), ErrMissingField, `c.ndjson:1: ops[0]: missing field "op"`},
		{"op not string", op(`{"op":1}`), ErrSyntax, `c.ndjson:1: malformed JSON at column 26: expected a string, found '1'`},
		{"duplicate op field", op(`{"op":"remove_program",` + prog + `,` + prog + `}`), ErrDuplicateField, `c.ndjson:1: ops[0]: duplicate field "program"`},
		{"unknown op field", op(`{"op":"remove_program",` + prog + `,"height":1}`), ErrUnknownField, `c.ndjson:1: ops[0]: unknown field "height"`},
		{"insert without key", op(`{"op":"insert",` + prog + `,` + mapp + `,"value":"00"}`), ErrMissingField, `c.ndjson:1: ops[0]: insert: missing field "key"`},
		{"update without value", op(`{"op":"update",` + prog + `,` + mapp + `,"key":"00"}`), ErrMissingField, `c.ndjson:1: ops[0]: update: missing field "value"`},
		{"init without mapping", op(`{"op":"initialize_mapping",` + prog + `}`), ErrMissingField, `c.ndjson:1: ops[0]: initialize_mapping: missing field "mapping"`},
		{"remove_program without program", op(`{"op":"remove_program"}`), ErrMissingField, `c.ndjson:1: ops[0]: remove_program: missing field "program"`},
		{"replace without entries", op(`{"op":"replace_mapping",` + prog + `,` + mapp + `}`), ErrMissingField, `c.ndjson:1: ops[0]: replace_mapping: missing field "entries"`},
		{"remove with value", op(`{"op":"remove",` + prog + `,` + mapp + `,"key":"01","value":"02"}`), ErrFieldNotAllowed, `c.ndjson:1: ops[0]: remove: field not allowed for this op: "value"`},
		{"remove_program with mapping", op(`{"op":"remove_program",` + prog + `,` + mapp + `}`), ErrFieldNotAllowed, `c.ndjson:1: ops[0]: remove_program: field not allowed for this op: "mapping"`},
		{"insert with entries", op(`{"op":"insert",` + prog + `,` + mapp + `,"key":"01","value":"02","entries":[]}`), ErrFieldNotAllowed, `c.ndjson:1: ops[0]: insert: field not allowed for this op: "entries"`},
		{"bad hex in key of second op", op(`{"op":"remove_program",` + prog + `},{"op":"remove",` + prog + `,` + mapp + `,"key":"0x01"}`), ErrBadHex, `c.ndjson:1: ops[1].key: invalid hex: character 'x'`},
		{"empty program", op(`{"op":"remove_program","program":""}`), ErrEmpty, `c.ndjson:1: ops[0]: remove_program: program: must not be empty`},
		{"empty key", op(`{"op":"remove",` + prog + `,` + mapp + `,"key":""}`), ErrEmpty, `c.ndjson:1: ops[0]: remove: key: must not be empty`},
		{"entry missing value", op(`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[{"key":"01"}]}`), ErrMissingField, `c.ndjson:1: ops[0].entries[0]: missing field "value"`},
		{"entry unknown field", op(`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[{"key":"01","value":"02","k":"03"}]}`), ErrUnknownField, `c.ndjson:1: ops[0].entries[0]: unknown field "k"`},
		{"entry bad hex", op(`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[{"key":"01","value":"02"},{"key":"1","value":"02"}]}`), ErrBadHex, `c.ndjson:1: ops[0].entries[1].key: invalid hex: odd length 1`},
		{"duplicate entry key", op(`{"op":"replace_mapping",` + prog + `,` + mapp + `,"entries":[{"key":"01","value":"02"},{"key":"03","value":"02"},{"key":"01","value":"04"}]}`), ErrDuplicateKey, `c.ndjson:1: ops[0]: replace_mapping: entries[2]: duplicate key 01 (also entries[0])`},
		{"stakers missing next", stk(`{"current":[]}`), ErrMissingField, `c.ndjson:1: stakers: missing field "next"`},
		{"stakers unknown", stk(`{"current":[],"next":[],"later":[]}`), ErrUnknownField, `c.ndjson:1: stakers: unknown field "later"`},
		{"staker missing stake", stk(`{"current":[{"staker":"01","validator":"02"}],"next":[]}`), ErrMissingField, `c.ndjson:1: stakers.current[0]: missing field "stake"`},
		{"staker negative stake", stk(`{"current":[],"next":[{"staker":"01","validator":"02","stake":-5}]}`), ErrBadNumber, `c.ndjson:1: stakers.next[0].stake: invalid number: expected an unsigned integer, found '-'`},
		{"staker stake overflow", stk(`{"current":[],"next":[{"staker":"01","validator":"02","stake":18446744073709551616}]}`), ErrBadNumber, `c.ndjson:1: stakers.next[0].stake: invalid number: 18446744073709551616 is out of range (max 18446744073709551615)`},
		{"duplicate staker", stk(`{"current":[{"staker":"01","validator":"02","stake":1},{"staker":"01","validator":"03","stake":2}],"next":[]}`), ErrDuplicateKey, `c.ndjson:1: stakers.current[1]: duplicate key: staker 01 (also [0])`},
		{"empty validator", stk(`{"current":[],"next":[{"staker":"01","validator":"","stake":1}]}`), ErrEmpty, `c.ndjson:1: stakers.next[0].validator: must not be empty`},
		{"height equal", lineH1 + "\n" + lineH1 + "\n", ErrHeightOrder, `c.ndjson:2: height not increasing: height 1 is not greater than the previous block's 1`},
		{"height decreasing after blank lines", lineH2 + "\n\n\n" + lineH1 + "\n", ErrHeightOrder, `c.ndjson:4: height not increasing: height 1 is not greater than the previous block's 2`},
		{"error on line 3 after CRLF", lineH1 + "\r\n\r\n{\r\n", ErrSyntax, `c.ndjson:3: malformed JSON at column 2: expected a string, found end of line`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, "c.ndjson", tt.src)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %s\nwant %s", err, tt.msg)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.File != "c.ndjson" {
				t.Errorf("not a *SyntaxError for c.ndjson: %#v", err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v does not match %v", err, tt.is)
			}
		})
	}
}

func TestReaderStopsAtBadLine(t *testing.T) {
	src := lineH1 + "\n" + `{"height":2,"block":"zz"}` + "\n" + `{"height":3,"block":""}` + "\n"
	r := NewReader(strings.NewReader(src), "in")
	b, err := r.Next()
	if err != nil || b.Height != 1 {
		t.Fatalf("first block: %v, %v", b, err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("error is not sticky: %v then %v", err1, err2)
	}
	if r.Line() != 2 {
		t.Errorf("Line() = %d, want 2", r.Line())
	}
}

func TestReaderLongLines(t *testing.T) {
	// Lines far beyond bufio's buffer, mixed with short ones.
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var src bytes.Buffer
	w := NewWriter(&src)
	blocks := []*Block{
		{Height: 1, Bytes: []byte{1}},
		{Height: 2, Bytes: big, Ops: []Op{{Kind: OpUpdate, Program: []byte("p"), Mapping: []byte("m"), Key: big[:100_000], Value: big[5:200_005]}}},
		{Height: 3, Bytes: []byte{3}},
		{Height: 4, Bytes: big[:70_000]},
	}
	for _, b := range blocks {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// A reader that returns one byte at a time exercises every buffer boundary for the short lines.
	for _, name := range []string{"plain", "onebyte"} {
		var in io.Reader = bytes.NewReader(src.Bytes())
		if name == "onebyte" {
			in = iotest.OneByteReader(in)
		}
		r := NewReader(in, name)
		for i, want := range blocks {
			got, err := r.Next()
			if err != nil {
				t.Fatalf("%s: block %d: %v", name, i, err)
			}
			if !blocksEqual(got, want) {
				t.Fatalf("%s: block %d differs", name, i)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("%s: want io.EOF, got %v", name, err)
		}
	}

	r := NewReader(bytes.NewReader(src.Bytes()), "small")
	r.SetMaxLineSize(100_000)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	if !errors.Is(err, ErrLineTooLong) || !strings.HasPrefix(err.Error(), "small:2: line too long: more than 100000 bytes") {
		t.Fatalf("want line too long on line 2, got %v", err)
	}
}

func TestReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader(lineH1+"\n"), iotest.ErrReader(boom)), "io")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	if !errors.Is(err, boom) || err.Error() != "io: line 2: boom" {
		t.Fatalf("got %v", err)
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		t.Fatal("an I/O error is not a SyntaxError")
	}
}

func TestBlocksDoNotAlias(t *testing.T) {
	src := lineH1 + "\n" + lineH2 + "\n"
	r := NewReader(strings.NewReader(src), "a")
	b1, _ := r.Next()
	b2, _ := r.Next()
	if b1.Bytes[0] != 0 || b2.Bytes[0] != 1 {
		t.Fatalf("blocks share memory: %x %x", b1.Bytes, b2.Bytes)
	}
	// Appending to one decoded slice must not overwrite the next one.
	line := `{"height":1,"ops":[{"op":"update",` + prog + `,` + mapp + `,"key":"01","value":"02"}],"block":"03"}`
	b, err := Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(b.Ops[0].Key, 0xff)
	if b.Ops[0].Value[0] != 2 || b.Bytes[0] != 3 {
		t.Fatal("decoded slices overlap")
	}
}

// TestNextReusing reads chains whose blocks grow and shrink (three generated chains one after
// the other) handing every block back, and checks that each block is what Next returns and
// that the memory is reused.
func TestNextReusing(t *testing.T) {
	var data []byte
	for _, c := range []struct {
		start             uint32
		ops, stakers, abs int
	}{{0, 4, 5, 30}, {1000, 64, 50, 20}, {5000, 2, 3, 20}} {
		cfg := DefaultGenConfig()
		cfg.StartHeight, cfg.OpsPerBlock, cfg.Stakers, cfg.Blocks = c.start, c.ops, c.stakers, c.abs
		data = append(data, genBytes(t, cfg)...)
	}
	fresh, err := readAll(t, "fresh", string(data))
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, b := range fresh {
		want = append(want, AppendBlock(nil, b))
	}
	rd := NewReader(bytes.NewReader(data), "reused")
	var old *Block
	reused := 0
	for i := 0; ; i++ {
		b, err := rd.NextReusing(old)
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d blocks, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b == old {
			reused++
		}
		if got := AppendBlock(nil, b); !bytes.Equal(got, want[i]) {
			t.Fatalf("block %d:\n got %s\nwant %s", i, got, want[i])
		}
		old = b
	}
	if reused != len(want)-1 {
		t.Errorf("%d of %d blocks reused the one handed back", reused, len(want)-1)
	}
}
