package chain

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary input to the reader: it must never panic, every error must be
// a *SyntaxError, every block it accepts must survive writer → reader unchanged, and a
// reader handed back each block (NextReusing), one without the canonical fast path, and one
// with neither must read the same blocks and end with the same error.
func FuzzReader(f *testing.F) {
	f.Add([]byte(lineH1 + "\n" + lineH2 + "\n"))
	f.Add([]byte(`{"height":0,"block":""}`))
	f.Add([]byte(`{"height":7,"ops":[{"op":"replace_mapping","program":"61","mapping":"62","entries":[{"key":"01","value":"02"}]},{"op":"remove_program","program":"61"}],"stakers":{"current":[{"staker":"aa","validator":"bb","stake":1}],"next":[]},"block":"00","aborted":true}`))
	f.Add([]byte("\r\n\n{\"height\":1,\"block\":\"0\"}"))
	cfg := DefaultGenConfig()
	cfg.Blocks, cfg.OpsPerBlock, cfg.Stakers, cfg.BlockSize = 3, 5, 3, 40
	f.Add(genBytes(f, cfg))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), "fuzz")
		r.SetMaxLineSize(1 << 20)
		var out bytes.Buffer
		w := NewWriter(&out)
		var blocks []*Block
		var firstErr error
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				firstErr = err
				var se *SyntaxError
				if !errors.As(err, &se) || se.Line < 1 {
					t.Fatalf("error is not a *SyntaxError with a line: %v", err)
				}
				break
			}
			if err := w.Write(b); err != nil {
				t.Fatalf("writer rejects a block the reader accepted: %v", err)
			}
			blocks = append(blocks, b)
		}
		r2 := NewReader(bytes.NewReader(out.Bytes()), "again")
		for i, want := range blocks {
			got, err := r2.Next()
			if err != nil {
				t.Fatalf("re-read block %d: %v", i, err)
			}
			if !blocksEqual(got, want) {
				t.Fatalf("block %d changed in the round trip", i)
			}
		}
		if _, err := r2.Next(); err != io.EOF {
			t.Fatalf("extra output: %v", err)
		}
		for _, v := range []struct{ reuse, general bool }{{true, false}, {false, true}, {true, true}} {
			reuse := v.reuse
			r3 := NewReader(bytes.NewReader(data), "fuzz")
			r3.SetMaxLineSize(1 << 20)
			r3.general = v.general
			var old *Block
			for i := 0; ; i++ {
				got, err := r3.NextReusing(old)
				if i == len(blocks) {
					if (err == io.EOF) != (firstErr == nil) || (firstErr != nil && err.Error() != firstErr.Error()) {
						t.Fatalf("reader (reusing %v, general parser %v) ends with %v, want %v", reuse, v.general, err, firstErr)
					}
					break
				}
				if err != nil || !blocksEqual(got, blocks[i]) {
					t.Fatalf("reader (reusing %v, general parser %v), block %d: %v", reuse, v.general, i, err)
				}
				if reuse {
					old = got
				}
			}
		}
	})
}
