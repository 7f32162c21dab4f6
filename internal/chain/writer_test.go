package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

func TestWriterCanonical(t *testing.T) {
	b := &Block{
		Height: 12,
		Ops: []Op{
			{Kind: OpInsert, Program: []byte("p"), Mapping: []byte("m"), Key: []byte{0xAB}, Value: []byte{1, 0}},
			{Kind: OpReplaceMapping, Program: []byte("p"), Mapping: []byte("m"), Entries: []Entry{{[]byte{1}, []byte{2}}}},
			{Kind: OpReplaceMapping, Program: []byte("p"), Mapping: []byte("m")}, // nil entries: empty replacement
			{Kind: OpRemoveProgram, Program: []byte("p")},
		},
		Current: []StakerEntry{{[]byte{1}, []byte{2}, 5}},
		Bytes:   []byte{0xff},
		Aborted: true,
	}
	want := `{"height":12,"ops":[{"op":"insert","program":"70","mapping":"6d","key":"ab","value":"0100"},` +
		`{"op":"replace_mapping","program":"70","mapping":"6d","entries":[{"key":"01","value":"02"}]},` +
		`{"op":"replace_mapping","program":"70","mapping":"6d","entries":[]},` +
		`{"op":"remove_program","program":"70"}],` +
		`"stakers":{"current":[{"staker":"01","validator":"02","stake":5}],"next":[]},"block":"ff","aborted":true}` + "\n"
	var buf bytes.Buffer
	if err := NewWriter(&buf).Write(b); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
	// encoding/json uses MarshalJSON/UnmarshalJSON.
	j, err := json.Marshal(b)
	if err != nil || string(j)+"\n" != want {
		t.Fatalf("json.Marshal: %s, %v", j, err)
	}
	var back Block
	if err := json.Unmarshal(j, &back); err != nil || !blocksEqual(&back, b) {
		t.Fatalf("json.Unmarshal: %+v, %v", back, err)
	}
}

func TestWriterRejects(t *testing.T) {
	p, m := []byte("p"), []byte("m")
	tests := []struct {
		name string
		b    Block
		is   error
		msg  string
	}{
		{"zero kind", Block{Height: 1, Ops: []Op{{Program: p}}}, ErrUnknownOp, "block 1: ops[0]: unknown op OpKind(0)"},
		{"missing key", Block{Height: 1, Ops: []Op{{Kind: OpRemove, Program: p, Mapping: m}}}, ErrMissingField, `block 1: ops[0]: remove: missing field "key"`},
		{"extra value", Block{Height: 1, Ops: []Op{{Kind: OpRemove, Program: p, Mapping: m, Key: p, Value: p}}}, ErrFieldNotAllowed, `block 1: ops[0]: remove: field not allowed for this op: "value"`},
		{"entries on update", Block{Height: 1, Ops: []Op{{Kind: OpUpdate, Program: p, Mapping: m, Key: p, Value: p, Entries: []Entry{}}}}, ErrFieldNotAllowed, `block 1: ops[0]: update: field not allowed for this op: "entries"`},
		{"empty mapping", Block{Height: 1, Ops: []Op{{Kind: OpRemoveMapping, Program: p, Mapping: []byte{}}}}, ErrEmpty, `block 1: ops[0]: remove_mapping: mapping: must not be empty`},
		{"empty entry value", Block{Height: 1, Ops: []Op{{Kind: OpReplaceMapping, Program: p, Mapping: m, Entries: []Entry{{p, nil}}}}}, ErrEmpty, `block 1: ops[0]: replace_mapping: entries[0].value: must not be empty`},
		{"duplicate next staker", Block{Height: 1, Next: []StakerEntry{{p, m, 1}, {m, m, 1}, {p, m, 2}}}, ErrDuplicateKey, `block 1: stakers.next[2]: duplicate key: staker 70 (also [0])`},
		{"empty staker", Block{Height: 1, Current: []StakerEntry{{nil, m, 1}}}, ErrEmpty, `block 1: stakers.current[0].staker: must not be empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := NewWriter(&buf).Write(&tt.b)
			if !errors.Is(err, tt.is) || err.Error() != tt.msg {
				t.Fatalf("got %v, want %s", err, tt.msg)
			}
			if buf.Len() != 0 {
				t.Fatal("wrote an invalid block")
			}
		})
	}

	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(&Block{Height: 5}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(&Block{Height: 5}); !errors.Is(err, ErrHeightOrder) {
		t.Fatalf("equal height: %v", err)
	}
	if err := w.Write(&Block{Height: 6}); err != nil {
		t.Fatal(err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.ErrShortWrite
	}
	f.n--
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	w := NewWriter(&failWriter{n: 1})
	if err := w.Write(&Block{Height: 1}); err != nil {
		t.Fatal(err)
	}
	err := w.Write(&Block{Height: 2})
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("got %v", err)
	}
	if err2 := w.Write(&Block{Height: 3}); err2 != err {
		t.Fatalf("not sticky: %v", err2)
	}
}

// TestRoundTrip writes a generated chain, reads it back, and writes it again: same bytes.
func TestRoundTrip(t *testing.T) {
	cfg := DefaultGenConfig()
	cfg.Blocks, cfg.OpsPerBlock, cfg.Stakers, cfg.AbortRate = 300, 40, 30, 0.05
	cfg.Mix.ReplaceMapping, cfg.Mix.RemoveMapping, cfg.Mix.RemoveProgram = 0.05, 0.01, 0.005
	var first bytes.Buffer
	w := NewWriter(&first)
	if err := Generate(cfg, w.Write); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(first.Bytes()), "gen")
	var second bytes.Buffer
	w2 := NewWriter(&second)
	n := 0
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w2.Write(b); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != cfg.Blocks {
		t.Fatalf("read %d blocks, want %d", n, cfg.Blocks)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatal("writer → reader → writer changed the bytes")
	}
}
