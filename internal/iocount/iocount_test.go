package iocount

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReaderCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    io.Reader
		want int64
		err  bool
	}{
		{"all", strings.NewReader("hello, world"), 12, false},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader("abc")), 3, false},
		{"data with EOF", iotest.DataErrReader(strings.NewReader("abcd")), 4, false},
		{"data then error", iotest.TimeoutReader(strings.NewReader("abcdef")), 6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Reader{R: tc.r}
			got, err := io.ReadAll(c)
			if (err != nil) != tc.err {
				t.Fatalf("ReadAll error %v, want error %v", err, tc.err)
			}
			if c.N != tc.want || int64(len(got)) != tc.want {
				t.Fatalf("N = %d after reading %d bytes, want %d", c.N, len(got), tc.want)
			}
		})
	}
}

// shortWriter takes room bytes at the most, then fails.
type shortWriter struct{ room int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) <= w.room {
		w.room -= len(p)
		return len(p), nil
	}
	n := w.room
	w.room = 0
	return n, io.ErrShortWrite
}

func TestWriterCounts(t *testing.T) {
	c := &Writer{W: &shortWriter{room: 5}}
	if n, err := c.Write([]byte("abc")); n != 3 || err != nil || c.N != 3 {
		t.Fatalf("Write(abc) = %d, %v; N = %d, want 3, nil; 3", n, err, c.N)
	}
	if n, err := c.Write([]byte("defg")); n != 2 || err != io.ErrShortWrite || c.N != 5 {
		t.Fatalf("Write(defg) = %d, %v; N = %d, want 2, %v; 5", n, err, c.N, io.ErrShortWrite)
	}
}
