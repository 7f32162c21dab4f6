package ctest

import (
	"os"
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
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "c++"
	}
	if _, err := exec.LookPath(cxx); err != nil {
		t.Skipf("no C++ compiler (%s) to build the test plugin: %v", cxx, err)
	}
	key := "cxx\x00" + src
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if p, ok := cache[key]; ok {
		return p
	}
	sub, err := os.MkdirTemp(outDir(t), "cxx-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(sub, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".o")
	args := []string{"-c", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out, filepath.Join(Root(t), src)}
	if b, err := exec.Command(cxx, args...).CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s %s\n%s", src, err, cxx, strings.Join(args, " "), b)
	}
	cache[key] = out
	return out
}
