package host

import (
	"strconv"
	"strings"
	"testing"
)

// TestChildPipes: childEnv's value must name exactly two valid pipe ends, read then write.
func TestChildPipes(t *testing.T) {
	// Far above any descriptor the test process has open: the files are never used.
	parse := func(p string) (uintptr, bool) {
		n, err := strconv.ParseUint(p, 10, 32)
		return uintptr(n), err == nil && n >= 1<<20
	}
	for _, tc := range []struct {
		v       string
		in, out uintptr
		err     bool
	}{
		{v: "1048576,1048577", in: 1 << 20, out: 1<<20 + 1},
		{v: "1048577,1048576", in: 1<<20 + 1, out: 1 << 20},
		{v: "1048576", err: true},
		{v: "1048576,1048577,1048578", err: true},
		{v: "", err: true},
		{v: "1048576,x", err: true},
		{v: "3,1048576", err: true},
	} {
		in, out, err := childPipes(tc.v, "test ends", parse)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "want two test ends") || !strings.Contains(err.Error(), childEnv) {
				t.Errorf("%q: error %v, want one naming %s and the two test ends", tc.v, err, childEnv)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.v, err)
		}
		if in.Fd() != tc.in || out.Fd() != tc.out || in.Name() != "node-to-child" || out.Name() != "child-to-node" {
			t.Errorf("%q: in %d %s, out %d %s; want %d node-to-child, %d child-to-node",
				tc.v, in.Fd(), in.Name(), out.Fd(), out.Name(), tc.in, tc.out)
		}
	}
}
