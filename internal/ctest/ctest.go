// Package ctest compiles C sources of the repository at test time: test plugins into
// shared libraries and small programs into executables, in the test's temporary directory.
// Nothing compiled is ever committed.
package ctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
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
	return tool(t, "CC", "cc", "C compiler", "the test plugins")
}

// tool returns the program that the environment variable env names, else def, and skips
// the test when it is not found: "no <what> (<program>) to build <builds>: <error>".
func tool(t testing.TB, env, def, what, builds string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Skipf("no %s (%s) to build %s: %v", what, p, builds, err)
	}
	return p
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

// cached returns the file built for key: the one built before in this process, or the one
// that make builds in a new private directory sub (named prefix…) below [outDir]. cacheMu is
// held while make runs, so a key is built once however many tests ask for it at once.
func cached(t testing.TB, key, prefix string, make func(sub string) string) string {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if p, ok := cache[key]; ok {
		return p
	}
	sub, err := os.MkdirTemp(outDir(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	p := make(sub)
	cache[key] = p
	return p
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
//
// With [PrebuiltEnv] set, nothing is compiled: the library built beforehand from src and
// flags is copied from that folder (once per process) to lib<name>.so (.dylib, .dll).
func Plugin(t testing.TB, name, src string, flags ...string) string {
	t.Helper()
	if d := prebuiltDir(); d != "" {
		return fromPrebuilt(t, d, "lib"+name+libExt(), src, rootRelative(Root(t), flags))
	}
	return build(t, "lib"+name+libExt(), src, append([]string{"-shared", "-fPIC"}, flags...))
}

// fromPrebuilt copies the prebuilt library of src and flags to a private file named out.
func fromPrebuilt(t testing.TB, dir, out, src string, flags []string) string {
	t.Helper()
	p, err := prebuilt(dir, src, flags)
	if err != nil {
		t.Fatal(err)
	}
	return cached(t, "prebuilt\x00"+out+"\x00"+p, "prebuilt-", func(sub string) string {
		dst := filepath.Join(sub, out)
		if err := copyFile(p, dst, 0o755); err != nil {
			t.Fatalf("ctest: copying the prebuilt %s: %v", p, err)
		}
		return dst
	})
}

// Program compiles the C source src (relative to the repository root) into an executable
// and returns its path. With [PrebuiltEnv] set it skips the test (no compiler at hand).
func Program(t testing.TB, name, src string, flags ...string) string {
	t.Helper()
	skipPrebuilt(t, "a C compiler to build the program "+src)
	return build(t, name, src, flags)
}

func build(t testing.TB, out, src string, flags []string) string {
	t.Helper()
	return buildSources(t, out, []string{src}, flags, nil)
}

// Main is the TestMain of the packages whose tests compile plugins: it runs the tests,
// removes what was compiled, and fails the run if a goroutine outlived the tests (every
// manager must have been unloaded, every server shut down).
func Main(m *testing.M) {
	// A manager without WithLogger logs to zerolog's global logger (stderr): keep its
	// info lines (plugin loaded/unloaded) out of test and benchmark output, whose
	// benchmark lines scripts/bench.sh parses; warnings and errors still show.
	zlog.Logger = zlog.Logger.Level(zerolog.WarnLevel)
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

// LogBuffer is a goroutine-safe sink for a logger's output (plugins log from any thread).
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
