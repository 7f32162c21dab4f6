package ctest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CXXObject compiles the C++ source src (relative to the repository root) with -fPIC into
// an object file and returns its path, to link into a plugin (Plugin's flags, with
// "-lstdc++"). Compiled once per process; the test is skipped when there is no C++
// compiler ($CXX, else c++).
func CXXObject(t testing.TB, src string) string {
	t.Helper()
	cxx := tool(t, "CXX", "c++", "C++ compiler", "the test plugin")
	return cached(t, "cxx\x00"+src, "cxx-", func(sub string) string {
		out := filepath.Join(sub, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".o")
		args := []string{"-c", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, filepath.Join(Root(t), src)}
		if b, err := exec.Command(cxx, args...).CombinedOutput(); err != nil {
			t.Fatalf("compiling %s: %v\n%s %s\n%s", src, err, cxx, strings.Join(args, " "), b)
		}
		return out
	})
}
