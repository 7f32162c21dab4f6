package host_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestWindowsLibraryPaths loads a plugin whose folder and file names have spaces and
// characters outside the ANSI code page: LoadLibrary must get the path as UTF-16, and the
// config's relative libpath must be resolved against such a folder.
func TestWindowsLibraryPaths(t *testing.T) {
	for _, tc := range []struct{ name, dir, file string }{
		{"spaces", "Program Files (x86)", "my plugin.dll"},
		{"non_ascii", "плагины ü 日本", "récordeur ß.dll"},
		{"both", "a b/ç d", "lib e ф.dll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			lib := copyLib(t, recorder(t, "recorder"), dir, tc.file)
			// The recorder opens its output with the C runtime's fopen (ANSI code page):
			// keep that path plain.
			out := filepath.Join(t.TempDir(), "out.txt")
			cfg := writeConfig(t, dir, "conf ü.json5", fmt.Sprintf("{libpath: %q, out: %q}", tc.file, out))
			m := host.NewManager()
			if _, err := m.LoadPlugin(cfg); err != nil {
				t.Fatal(err)
			}
			info, ok := m.Plugin("recorder")
			if !ok || info.Path != lib {
				t.Errorf("Plugin(recorder) = %+v, %v; want library %s", info, ok, lib)
			}
			if err := m.BroadcastBatch(allEvents); err != nil {
				t.Fatal(err)
			}
			m.Unload()
			if got := only(ctest.ReadLines(t, out), "ev "); !slices.Equal(got, allLines) {
				t.Errorf("delivered %v, want %v", got, allLines)
			}
		})
	}
}

// TestWindowsDependencyBesidePlugin loads a plugin that imports a function from a DLL of
// its own lying beside it (testdata/windows/depuser.c and windep.c), from a folder that is
// neither the current directory, the executable's, nor on PATH: the loader must search the
// plugin's folder for its dependencies. Without the dependency the load fails cleanly.
func TestWindowsDependencyBesidePlugin(t *testing.T) {
	src := ctest.PrebuiltDir(t, ctest.WindowsDepPlugin)
	for _, withDep := range []bool{true, false} {
		t.Run(fmt.Sprintf("dependency_present=%v", withDep), func(t *testing.T) {
			base := t.TempDir()
			if !withDep && ctest.UnderWine() {
				// Wine 8.0 keeps a DLL whose import failed mapped (Windows does not): it
				// cannot be deleted until the process ends.
				b, err := os.MkdirTemp("", "wine-failed-load-")
				if err != nil {
					t.Fatal(err)
				}
				base = b
				t.Cleanup(func() { os.RemoveAll(b) })
			}
			dir := filepath.Join(base, "plugin dir")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			copyLib(t, filepath.Join(src, "depuser.dll"), dir, "depuser.dll")
			if withDep {
				copyLib(t, filepath.Join(src, "windep.dll"), dir, "windep.dll")
			}
			cfg := writeConfig(t, dir, "depuser.json5", "{libpath: 'depuser.dll'}")
			m := host.NewManager()
			defer m.Unload()
			name, err := m.LoadPlugin(cfg)
			if !withDep {
				if !errors.Is(err, host.ErrLibraryLoad) {
					t.Fatalf("without windep.dll: LoadPlugin = %q, %v; want ErrLibraryLoad", name, err)
				}
				return
			}
			// The name is "depuser-" and what windep_answer returned.
			if err != nil || name != "depuser-42" {
				t.Fatalf("LoadPlugin = %q, %v; want depuser-42", name, err)
			}
		})
	}
}

// TestWindowsNoPermissionCheck pins what the README says: on Windows the host does not
// check who may write a plugin's library or config (access is the folder's ACL's business;
// pin the code with sha256). A library and a config without the read-only attribute
// (os.Chmod 0o666 on Windows) load without allow_insecure, and a wrong sha256 is refused.
func TestWindowsNoPermissionCheck(t *testing.T) {
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder"), dir, "rec.dll")
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: 'rec.dll', out: %q}", out))
	for _, p := range []string{lib, cfg, dir} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	m := host.NewManager()
	defer m.Unload()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatalf("writable library and config refused on Windows: %v", err)
	}
	if err := m.UnloadPlugin("recorder"); err != nil {
		t.Fatal(err)
	}
	pinned := writeConfig(t, dir, "pinned.json5", fmt.Sprintf("{libpath: 'rec.dll', out: %q, sha256: '%064x'}", out, 1))
	if _, err := m.LoadPlugin(pinned); !errors.Is(err, host.ErrHashMismatch) {
		t.Fatalf("wrong sha256: %v, want ErrHashMismatch", err)
	}
}
