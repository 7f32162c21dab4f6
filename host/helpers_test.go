package host_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// recorder compiles testdata/plugins/recorder.c with the given -D switches (see the
// file's comment) and returns the library's path.
func recorder(t testing.TB, name string, defines ...string) string {
	t.Helper()
	return ctest.Plugin(t, name, "testdata/plugins/recorder.c", defines...)
}

// pluginLib compiles testdata/plugins/<src>.c (src is name up to the first '_') with the
// given -D switches.
func pluginLib(t testing.TB, name string, defines ...string) string {
	t.Helper()
	src := name
	if i := strings.IndexByte(name, '_'); i > 0 {
		src = name[:i]
	}
	return ctest.Plugin(t, name, "testdata/plugins/"+src+".c", defines...)
}

// copyLib copies a library into dir (so that two plugins can load "the same" code from
// different paths) and returns the new path.
func copyLib(t testing.TB, lib, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a config file into dir and returns its path.
func writeConfig(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// only keeps the lines starting with one of the prefixes.
func only(ls []string, prefixes ...string) []string {
	var out []string
	for _, l := range ls {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// loadManager loads the plugin of cfg into a new manager with opts; the caller unloads or
// shuts down the manager.
func loadManager(t *testing.T, cfg string, opts ...host.Option) *host.Manager {
	t.Helper()
	m := host.NewManager(opts...)
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	return m
}

// bareBlocks is n Block events (no payload) at the heights from, from+1, …
func bareBlocks(n int, from uint32) []abi.Event {
	evs := make([]abi.Event, n)
	for i := range evs {
		evs[i] = abi.Event{Kind: abi.Block, BlockHeight: from + uint32(i)}
	}
	return evs
}

// loadBroadcast is loadManager, then n broadcasts of evBlock, whatever they return.
func loadBroadcast(t *testing.T, cfg string, n int, opts ...host.Option) *host.Manager {
	t.Helper()
	m := loadManager(t, cfg, opts...)
	for range n {
		m.Broadcast(evBlock)
	}
	return m
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = ctest.LogBuffer

func testLogger(buf *syncBuffer) zerolog.Logger { return zerolog.New(buf).Level(zerolog.TraceLevel) }

// TestMain checks, after every test ran, that no goroutine is left behind: every test
// unloads its managers, and Unload must stop the async workers. The test binary is also
// the child process of isolated plugins (host.ServeIsolated).
func TestMain(m *testing.M) {
	host.ServeIsolated()
	ctest.Main(m)
}

// symlink makes link point to target and checks that it resolves. On Windows, where making
// one needs a privilege (and Wine's do not resolve), the error is returned for the test to
// skip what needs the link; elsewhere it fails the test.
func symlink(t testing.TB, target, link string) error {
	t.Helper()
	err := os.Symlink(target, link)
	if err == nil {
		_, err = os.Stat(link)
	}
	if err != nil && runtime.GOOS != "windows" {
		t.Fatal(err)
	}
	return err
}
