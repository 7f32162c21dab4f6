// Package ctest compiles C sources of the repository at test time: test plugins into
// shared libraries and small programs into executables, in the test's temporary directory.
// Nothing compiled is ever committed.
package ctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// Root returns the repository's root directory (the one holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("ctest: cannot locate the source tree")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CC returns the C compiler to use ($CC, else cc), skipping the test when there is none.
func CC(t testing.TB) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the test plugins: %v", cc, err)
	}
	return cc
}

func libExt() string {
	switch runtime.GOOS {
	case "darwin":
		return ".dylib"
	case "windows":
		return ".dll"
	}
	return ".so"
}

var (
	cacheMu sync.Mutex
	cache   = map[string]string{}
	dir     string
)

// outDir returns a directory that lives as long as the test binary: compiled plugins are
// cached per process so that each is built once, however many tests use it.
func outDir(t testing.TB) string {
	if dir == "" {
		d, err := os.MkdirTemp("", "slipstream-ctest-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	return dir
}

// Cleanup removes what this package compiled; call it from TestMain after m.Run.
func Cleanup() {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir = ""
		cache = map[string]string{}
	}
}

// Plugin compiles the C source src (a path relative to the repository root) with the
// extra compiler flags into a shared library and returns its path. Identical requests are
// compiled once per process. The library is named lib<name>.so (.dylib, .dll).
func Plugin(t testing.TB, name, src string, flags ...string) string {
	t.Helper()
	return build(t, "lib"+name+libExt(), src, append([]string{"-shared", "-fPIC"}, flags...))
}

// Program compiles the C source src (relative to the repository root) into an executable
// and returns its path.
func Program(t testing.TB, name, src string, flags ...string) string {
	t.Helper()
	return build(t, name, src, flags)
}

func build(t testing.TB, out, src string, flags []string) string {
	t.Helper()
	cc := CC(t)
	root := Root(t)
	key := out + "\x00" + src + "\x00" + strings.Join(flags, "\x00")
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if p, ok := cache[key]; ok {
		return p
	}
	sub, err := os.MkdirTemp(outDir(t), "build-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, out)
	args := append([]string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-g",
		"-I", filepath.Join(root, "include"), "-o", path, filepath.Join(root, src)}, flags...)
	if runtime.GOOS == "linux" {
		args = append(args, "-ldl", "-lpthread")
	}
	cmd := exec.Command(cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s %s\n%s", src, err, cc, strings.Join(args, " "), b)
	}
	cache[key] = path
	return path
}

// Main is the TestMain of the packages whose tests compile plugins: it runs the tests,
// removes what was compiled, and fails the run if a goroutine outlived the tests (every
// manager must have been unloaded, every server shut down).
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
