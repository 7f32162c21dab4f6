//go:build unix

package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/slipstream-go/slipstream/internal/ctest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// mkfifo makes a FIFO in dir.
func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// finishes runs f and fails the test if it does not return within 10 s. Meanwhile (and
// on a timeout) it keeps opening the FIFOs for writing, which releases a reader blocked
// on them, so that a failing test does not leave a goroutine stuck for ever.
func finishes(t *testing.T, what string, fifos []string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	timeout := time.After(10 * time.Second)
	stuck := false
	for {
		select {
		case <-done:
			if stuck {
				t.Fatalf("%s blocked on a FIFO (it must fail at once)", what)
			}
			return
		case <-timeout:
			stuck = true
		case <-time.After(20 * time.Millisecond):
			if !stuck {
				continue
			}
			for _, p := range fifos {
				if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			}
		}
	}
}

// TestConfigNotRegular: the one config reader (LoadPlugin, Register, ReloadPlugin) refuses
// anything but a regular file at once, and files over 1 MiB, with ErrConfigRead.
func TestConfigNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := mkfifo(t, dir, "fifo.json5")
	big := writeConfig(t, dir, "big.json5", "{a: '"+strings.Repeat("x", host.MaxConfigSize)+"'}")
	cfg, _ := recorderSetup(t, "recorder", "")
	m := host.NewManager()
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Register(&goPlugin{name: "gp"}, ""); err != nil {
		t.Fatal(err)
	}
	entries := map[string]func(string) error{
		"LoadPlugin":       func(p string) error { _, err := m.LoadPlugin(p); return err },
		"Register":         func(p string) error { _, err := m.Register(&goPlugin{name: "gp2"}, p); return err },
		"ReloadPlugin":     func(p string) error { return m.ReloadPlugin("recorder", p) },
		"ReloadPlugin(Go)": func(p string) error { return m.ReloadPlugin("gp", p) },
	}
	files := []struct{ name, path, msg string }{
		{"fifo", fifo, "not a regular file (it is a FIFO)"},
		{"dev_zero", "/dev/zero", "not a regular file (it is a character device)"},
		{"directory", dir, "not a regular file (it is a directory)"},
		{"oversized", big, "1 MiB"},
		// One reader, one wording: Register and ReloadPlugin of a Go plugin used to say less.
		{"missing", filepath.Join(dir, "missing.json5"), "no such file or directory (check the path and its permissions)"},
	}
	for entry, call := range entries {
		for _, f := range files {
			t.Run(entry+"/"+f.name, func(t *testing.T) {
				var err error
				finishes(t, entry, []string{fifo}, func() { err = call(f.path) })
				if !errors.Is(err, host.ErrConfigRead) || !strings.Contains(err.Error(), f.msg) || !strings.Contains(err.Error(), f.path) {
					t.Errorf("err = %v, want ErrConfigRead naming %s and saying %q", err, f.path, f.msg)
				}
			})
		}
	}
	if got := m.ListPlugins(); !slices.Equal(got, []string{"recorder", "gp"}) {
		t.Errorf("plugins = %v, want the two loaded ones untouched", got)
	}
}

// TestFIFOHoldsNothingUp: a load whose library (or config) is a FIFO fails at once, and a
// Shutdown started meanwhile does not wait behind it (the files are read before the
// manager's lock).
func TestFIFOHoldsNothingUp(t *testing.T) {
	for _, pinned := range []bool{false, true} {
		t.Run(fmt.Sprintf("pinned=%v", pinned), func(t *testing.T) {
			dir := t.TempDir()
			lib := mkfifo(t, dir, "libfifo.so")
			extra := ""
			if pinned {
				extra = ", sha256: '" + strings.Repeat("0", 64) + "'"
			}
			cfg := writeConfig(t, dir, "fifo.json5", "{libpath: 'libfifo.so'"+extra+"}")
			okCfg, _ := recorderSetup(t, "recorder", "")
			m := host.NewManager()
			if _, err := m.LoadPlugin(okCfg); err != nil {
				t.Fatal(err)
			}
			loaded := make(chan error, 1)
			finishes(t, "a load of a FIFO library and a Shutdown", []string{lib}, func() {
				go func() { _, err := m.LoadPlugin(cfg); loaded <- err }()
				time.Sleep(50 * time.Millisecond)
				m.Shutdown()
				<-loaded
			})
			if _, err := host.NewManager().LoadPlugin(cfg); !errors.Is(err, host.ErrLibraryLoad) || !strings.Contains(err.Error(), "FIFO") {
				t.Errorf("err = %v, want ErrLibraryLoad saying the library is a FIFO", err)
			}
		})
	}
}

// pinnedConfig writes a config pinning lib's sha256, recording into out ("": nowhere).
func pinnedConfig(t *testing.T, dir, name, lib, out string) string {
	t.Helper()
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	text := fmt.Sprintf("{libpath: %q, sha256: %q", lib, hex.EncodeToString(sum[:]))
	if out != "" {
		text += fmt.Sprintf(", out: %q", out)
	}
	return writeConfig(t, dir, name, text+"}")
}

// TestTwoPinnedLibraries: two different sha256-pinned libraries loaded one after the other
// each run their own code (their name() says which). They used to be opened as
// /proc/self/fd/N through the descriptor that was hashed, closed right after: the second
// got the same N, and the loader handed back the first library, loaded under that name.
// (The plugins open no file here: the recorder's "out" file would take that N.)
func TestTwoPinnedLibraries(t *testing.T) {
	dir := t.TempDir()
	cfgs := map[string]string{}
	for _, n := range []string{"one", "two", "three"} {
		lib := copyLib(t, recorder(t, "recorder_"+n, `-DRECORDER_NAME="`+n+`"`, "-DRECORDER_NO_OUT"), dir, "lib"+n+".so")
		cfgs[n] = pinnedConfig(t, dir, n+".json5", lib, "")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the private copies go
	m := host.NewManager()
	defer m.Unload()
	for _, n := range []string{"one", "two", "three"} {
		if got, err := m.LoadPlugin(cfgs[n]); err != nil || got != n {
			t.Fatalf("LoadPlugin(%s) = %q, %v; want %q", n, got, err, n)
		}
	}
	if err := m.UnloadPlugin("two"); err != nil {
		t.Fatal(err)
	}
	if err := m.ReloadPlugin("one", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := m.LoadPlugin(cfgs["two"]); err != nil || got != "two" {
		t.Fatalf("LoadPlugin(two) again = %q, %v", got, err)
	}
	if got := m.ListPlugins(); !slices.Equal(got, []string{"three", "one", "two"}) && !slices.Equal(got, []string{"one", "three", "two"}) {
		t.Errorf("plugins = %v", got)
	}
	// No private copy is left behind once the libraries are open.
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("private copies left: %v", left)
	}
}

// TestHardLinkLoadedOnce: a hard link to a loaded library is the same file (device and
// inode), whatever its path: refused before any of its code runs.
func TestHardLinkLoadedOnce(t *testing.T) {
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	if err := os.Link(lib, filepath.Join(dir, "librec-hard.so")); err != nil {
		t.Skip("no hard links here:", err)
	}
	out := filepath.Join(dir, "out.txt")
	a := writeConfig(t, dir, "a.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q}", out))
	b := writeConfig(t, dir, "b.json5", fmt.Sprintf("{libpath: 'librec-hard.so', name: 'other', out: %q}", out))
	m := loadManager(t, a)
	defer m.Unload()
	before := len(ctest.ReadLines(t, out))
	if _, err := m.LoadPlugin(b); !errors.Is(err, host.ErrAlreadyLoaded) || !strings.Contains(err.Error(), "librec.so") {
		t.Errorf("hard link: err = %v, want ErrAlreadyLoaded naming librec.so", err)
	}
	if got := ctest.ReadLines(t, out)[before:]; len(got) != 0 || !slices.Equal(m.ListPlugins(), []string{"recorder"}) {
		t.Errorf("the refused load ran plugin code %v or changed the plugins %v", got, m.ListPlugins())
	}
}

// TestStrictModes reproduces issue 18.2: the library, the config and every directory up to
// / must be owned by root or the node's user and not writable by group or others (a
// sticky directory only when the entry in it is trusted); allow_insecure: true accepts.
func TestStrictModes(t *testing.T) {
	lib := recorder(t, "recorder")
	const nobody = 65534
	// layout makes base/<shared>/plugins/{libp.so,p.json5} and returns base/<shared> and
	// the config.
	layout := func(t *testing.T, sharedMode os.FileMode, extra string) (shared, cfg string) {
		shared = filepath.Join(t.TempDir(), "shared")
		plugins := filepath.Join(shared, "plugins")
		if err := os.MkdirAll(plugins, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(shared, sharedMode); err != nil {
			t.Fatal(err)
		}
		copyLib(t, lib, plugins, "libp.so")
		cfg = writeConfig(t, plugins, "p.json5", fmt.Sprintf("{libpath: 'libp.so', out: %q %s}", filepath.Join(t.TempDir(), "out.txt"), extra))
		return shared, cfg
	}
	chown := func(t *testing.T, p string) {
		if err := os.Lchown(p, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		mode     os.FileMode
		root     bool   // needs root (os.Chown to another uid)
		chown    string // under shared: what another user owns
		insecure bool   // allow_insecure: true
		msg      string // "" : loads
	}{
		{"world_writable_dir_above", 0o777, false, "", false, "shared"},
		{"world_writable_dir_above_allowed", 0o777, false, "", true, ""},
		{"group_writable_dir_above", 0o775, false, "", false, "shared"},
		{"sticky_dir_trusted_entry", 0o777 | os.ModeSticky, false, "", false, ""},
		{"sticky_dir_foreign_entry", 0o777 | os.ModeSticky, true, "plugins", false, "owned by uid 65534"},
		{"foreign_library", 0o755, true, "plugins/libp.so", false, "owned by uid 65534"},
		{"foreign_config", 0o755, true, "plugins/p.json5", false, "owned by uid 65534"},
		{"foreign_dir", 0o755, true, "plugins", false, "owned by uid 65534"},
		{"foreign_library_allowed", 0o755, true, "plugins/libp.so", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give files to another user")
			}
			extra := ""
			if tc.insecure {
				extra = ", allow_insecure: true"
			}
			shared, cfg := layout(t, tc.mode, extra)
			if tc.chown != "" {
				chown(t, filepath.Join(shared, tc.chown))
			}
			m := host.NewManager()
			defer m.Unload()
			_, err := m.LoadPlugin(cfg)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, host.ErrInsecure) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "allow_insecure") {
				t.Fatalf("err = %v, want ErrInsecure saying %q and naming allow_insecure", err, tc.msg)
			}
			if len(m.ListPlugins()) != 0 {
				t.Errorf("loaded %v", m.ListPlugins())
			}
		})
	}
}

// TestPluginNameRules: the plugin's own name (C name(), Go Name()) must be printable UTF-8
// of at most 128 bytes; a longer one is refused, not cut.
func TestPluginNameRules(t *testing.T) {
	long := strings.Repeat("n", host.MaxNameLen+1)
	for _, tc := range []struct{ variant, define string }{
		{"recorder_newline", `-DRECORDER_NAME="bad\nname"`},
		{"recorder_control", `-DRECORDER_NAME="bad\033[31mname"`},
		{"recorder_invalid", `-DRECORDER_NAME="bad\xffname"`},
		{"recorder_long", `-DRECORDER_NAME="` + long + `"`},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			cfg, _ := recorderSetup(t, tc.variant, "", tc.define)
			m := host.NewManager()
			defer m.Unload()
			_, err := m.LoadPlugin(cfg)
			if !errors.Is(err, host.ErrInvalidPlugin) || !errors.Is(err, host.ErrInvalidName) || len(err.Error()) > 400 {
				t.Fatalf("err = %v, want a short ErrInvalidPlugin and ErrInvalidName", err)
			}
			if len(m.ListPlugins()) != 0 {
				t.Errorf("loaded %v", m.ListPlugins())
			}
		})
	}
	m := host.NewManager()
	defer m.Unload()
	for _, name := range []string{"a\nb", "a\xffb", long, "tab\there"} {
		if _, err := m.Register(&goPlugin{name: name}, ""); !errors.Is(err, host.ErrInvalidPlugin) || !errors.Is(err, host.ErrInvalidName) {
			t.Errorf("Register(%.20q) = %v, want ErrInvalidPlugin and ErrInvalidName", name, err)
		}
	}
	if name, err := m.Register(&goPlugin{name: strings.Repeat("é", host.MaxNameLen/2)}, ""); err != nil {
		t.Errorf("Register(%q) = %v", name, err)
	}
}

// TestSuspiciousKeyWarned: a misspelled host key is warned about at load, naming the
// plugin and the setting it resembles.
func TestSuspiciousKeyWarned(t *testing.T) {
	cfg, _ := recorderSetup(t, "recorder", "eror_policy: 'halt'")
	dir := t.TempDir()
	goCfg := writeConfig(t, dir, "gp.json5", "{delivry: 'async'}")
	var logs syncBuffer
	m := host.NewManager(host.WithLogger(testLogger(&logs)))
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Register(&goPlugin{name: "gp", mask: abi.Mask(abi.Block)}, goCfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{`"plugin":"recorder"`, `eror_policy`, `error_policy`}, {`"plugin":"gp"`, `delivry`, `delivery`}} {
		found := false
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"level":"warn"`) && strings.Contains(l, want[0]) && strings.Contains(l, want[1]) && strings.Contains(l, want[2]) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning with %v in\n%s", want, logs.String())
		}
	}
}
