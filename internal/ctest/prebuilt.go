package ctest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PrebuiltEnv names the environment variable that points the tests at a folder of test
// plugins built beforehand, as purego's own tests do. make test-windows sets it: the Go
// tests are cross-compiled for Windows and run under Wine, where no C compiler is at hand,
// against DLLs that mingw-w64 built from the same sources (see [BuildVariants]).
//
// When it is set, [Plugin] returns the prebuilt library of the request from that folder
// and fails the test if it is not there; [Program], [HistoryPlugin] and [Cargo], which
// would need a compiler (or SQLite, libpq, Rust) at test time, skip the test with the
// reason; [GoCommand] returns the prebuilt command <name>.exe from the folder, or skips.
const PrebuiltEnv = "SLIPSTREAM_TEST_PLUGINS"

// prebuiltDir returns the folder named by PrebuiltEnv, or "" when it is not set.
func prebuiltDir() string { return os.Getenv(PrebuiltEnv) }

// skipPrebuilt skips the test when PrebuiltEnv is set; what names what would be needed.
func skipPrebuilt(t testing.TB, what string) {
	t.Helper()
	if d := prebuiltDir(); d != "" {
		t.Skipf("%s=%s (prebuilt test plugins, no build tools at test time): this test needs %s", PrebuiltEnv, d, what)
	}
}

// Variant is one test plugin as the tests request it from [Plugin]: the C source Src
// compiled with the extra compiler Flags. The name a test gives the library is not part
// of it: a prebuilt library is copied to lib<name>.so (.dylib, .dll) when requested.
type Variant struct {
	Src string // the C source, relative to the repository root
	// Flags are the extra compiler flags, exactly as passed to Plugin, except that a path
	// under the repository's root is written ${ROOT}/dir/… (RootVar, slash-separated): the
	// tests that pass one compute it at run time, on another system than the build's.
	Flags []string
	// Deps are C sources (relative to the root) of DLLs the plugin is linked against,
	// built into the same folder; for the Windows test of a plugin whose own dependency
	// lies beside it. Only BuildVariants builds them (see [PrebuiltDir]).
	Deps []string
}

// Dir returns the variant's folder inside a prebuilt folder: a hash of its source, flags
// and dependencies, so that every combination has a folder of its own.
func (v Variant) Dir() string {
	h := sha256.New()
	for _, s := range append(append([]string{v.Src}, v.Flags...), v.Deps...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// File returns the library's path inside a prebuilt folder, for a system whose shared
// libraries end in ext: <Dir>/<base name of Src><ext>.
func (v Variant) File(ext string) string {
	return filepath.Join(v.Dir(), libBase(v.Src)+ext)
}

func libBase(src string) string { return strings.TrimSuffix(filepath.Base(src), ".c") }

// Variants lists every test plugin the Go tests of host, finalize, e2e, admin and
// internal/cli request through [Plugin], so that a cross build (make test-windows) can
// build them all beforehand. A test asking for one missing here fails under PrebuiltEnv
// with the line to add.
var Variants = []Variant{
	{Src: "testdata/plugins/recorder.c"},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_BATCH"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{`-DRECORDER_NAME="flaky"`}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{`-DRECORDER_NAME="other"`}},
	// The misbehaving plugins of host's TestLoadErrors.
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_NO_VERSION"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_NO_CREATE"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_ABI=0x20000"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_ABI=0x10001"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_CREATE_NULL"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_NAME_NULL"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_NAME_EMPTY"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_SMALL_VTABLE"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_NO_CALLBACK"}},
	{Src: "testdata/plugins/noop.c"},
	{Src: "testdata/plugins/noop.c", Flags: []string{"-DNOOP_BATCH"}},
	{Src: "testdata/plugins/noop.c", Flags: []string{"-DNOOP_BATCH", "-DNOOP_SUM"}},
	{Src: "testdata/plugins/crash.c"},
	{Src: "testdata/plugins/lifecycle.c"},
	// For the tests of ABI 1.1 (branch hostdel): TestLoadErrors/newer_minor, and
	// TestABI10PluginLoads, which builds the recorder against the frozen 1.0 header.
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_ABI=0x10002"}},
	{Src: "testdata/plugins/recorder.c", Flags: []string{"-iquote", RootVar + "/testdata/abi/1.0"}},
	// Windows only (host/*_windows_test.go): a plugin that imports a function from a DLL
	// of its own, which lies beside it.
	WindowsDepPlugin,
}

// RootVar stands for the repository's root in a [Variant]'s Flags.
const RootVar = "${ROOT}"

// rootRelative writes the paths under root in flags as RootVar/…, slash-separated.
func rootRelative(root string, flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		if root != "" && strings.Contains(f, root) {
			f = filepath.ToSlash(strings.ReplaceAll(f, root, RootVar))
		}
		out[i] = f
	}
	return out
}

// WindowsDepPlugin is the plugin of the Windows DLL-search-order test: depuser.dll imports
// windep_answer from windep.dll, built into the same folder.
var WindowsDepPlugin = Variant{Src: "testdata/windows/depuser.c", Deps: []string{"testdata/windows/windep.c"}}

// prebuilt returns the prebuilt library of a request (its flags as rootRelative wrote
// them), or an error that says what to add to Variants.
func prebuilt(dir, src string, flags []string) (string, error) {
	v := Variant{Src: src, Flags: flags}
	p := filepath.Join(dir, v.File(libExt()))
	if _, err := os.Stat(p); err != nil {
		quoted := make([]string, len(flags))
		for i, f := range flags {
			quoted[i] = fmt.Sprintf("%q", f)
		}
		return "", fmt.Errorf("ctest: the test plugin %s %s is not prebuilt in %s=%s (%v): add "+
			"{Src: %q, Flags: []string{%s}} to ctest.Variants (internal/ctest/prebuilt.go)",
			src, strings.Join(flags, " "), PrebuiltEnv, dir, err, src, strings.Join(quoted, ", "))
	}
	return p, nil
}

// PrebuiltDir returns the folder holding the prebuilt variant v and the DLLs it depends
// on (each named after its source: testdata/windows/windep.c is windep.dll), skipping the
// test when PrebuiltEnv is not set: variants with dependencies are built only by
// [BuildVariants].
func PrebuiltDir(t testing.TB, v Variant) string {
	t.Helper()
	d := prebuiltDir()
	if d == "" {
		t.Skipf("ctest: %s (linked against %v) is built only beforehand, with %s set (make test-windows)", v.Src, v.Deps, PrebuiltEnv)
	}
	p := filepath.Join(d, v.Dir())
	if _, err := os.Stat(filepath.Join(d, v.File(libExt()))); err != nil {
		t.Fatalf("ctest: %s is not prebuilt in %s=%s: %v", v.Src, PrebuiltEnv, d, err)
	}
	return p
}

// BuildVariants compiles the variants vs (make test-windows: all of [Variants]) and their
// Deps with the C compiler cc for the system goos, whose shared libraries end in ext, into
// dir, with the flags [Plugin] would use at test time; dir is then the folder PrebuiltEnv
// names. root is the repository's root.
func BuildVariants(cc, goos, ext, root, dir string, vs []Variant) error {
	var errs []error
	for _, v := range vs {
		sub := filepath.Join(dir, v.Dir())
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var libs []string
		for _, d := range v.Deps {
			p := filepath.Join(sub, libBase(d)+ext)
			if err := compile(cc, goos, root, p, []string{d}, []string{"-shared", "-fPIC"}, nil); err != nil {
				errs = append(errs, err)
			}
			libs = append(libs, p)
		}
		flags := []string{"-shared", "-fPIC"}
		for _, f := range v.Flags {
			flags = append(flags, strings.ReplaceAll(f, RootVar, root))
		}
		if err := compile(cc, goos, root, filepath.Join(dir, v.File(ext)), []string{v.Src}, flags, libs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PrebuiltFile returns the file rel (a slash-separated path) of the prebuilt folder, such
// as the C++ example plugin that make test-windows builds when the tree has it; it skips
// the test when PrebuiltEnv is not set or the file is not there.
func PrebuiltFile(t testing.TB, rel string) string {
	t.Helper()
	d := prebuiltDir()
	if d == "" {
		t.Skipf("ctest: %s is built only beforehand, with %s set (make test-windows)", rel, PrebuiltEnv)
	}
	p := filepath.Join(d, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("ctest: %s was not prebuilt in %s=%s (%v)", rel, PrebuiltEnv, d, err)
	}
	return p
}
