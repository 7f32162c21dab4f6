package chain

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// TestSampleChains checks the sample files under testdata/chains/ at the repository root:
// small.ndjson is what `slipstream gen -blocks 12 -ops 8 -stakers 4 -block-size 64
// -abort-rate 0.15 -seed 7` writes; bad_hex_line4.ndjson has two good blocks, a blank line and
// a block with a bad key.
func TestSampleChains(t *testing.T) {
	want, err := os.ReadFile("../../testdata/chains/small.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultGenConfig()
	cfg.Blocks, cfg.OpsPerBlock, cfg.Stakers, cfg.BlockSize, cfg.AbortRate, cfg.Seed = 12, 8, 4, 64, 0.15, 7
	if got := genBytes(t, cfg); string(got) != string(want) {
		t.Error("small.ndjson is not what the generator writes now: regenerate it")
	}

	f, err := os.Open("../../testdata/chains/bad_hex_line4.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, "bad_hex_line4.ndjson")
	for i := 0; i < 2; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.Next()
	const msg = "bad_hex_line4.ndjson:4: ops[0].key: invalid hex: character 'z'"
	if !errors.Is(err, ErrBadHex) || err.Error() != msg {
		t.Fatalf("got %v, want %s", err, msg)
	}
	if _, err := r.Next(); err == io.EOF {
		t.Fatal("reading went on after the error")
	}
}

// TestFormatDocExample checks that the example lines of FORMAT.md are valid blocks.
func TestFormatDocExample(t *testing.T) {
	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	start := strings.Index(s, "```ndjson\n")
	end := strings.Index(s[start+10:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no ndjson example in FORMAT.md")
	}
	blocks, err := readAll(t, "FORMAT.md", s[start+10:start+10+end])
	if err != nil || len(blocks) != 2 || !blocks[1].Aborted {
		t.Fatalf("example: %d blocks, %v", len(blocks), err)
	}
	// The example is in canonical form.
	var b strings.Builder
	w := NewWriter(&b)
	for _, bl := range blocks {
		if err := w.Write(bl); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != s[start+10:start+10+end] {
		t.Errorf("the example is not canonical; canonical:\n%s", b.String())
	}
}
