package ctest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestPrebuilt builds two variants as make test-windows does (with this system's compiler)
// and checks that, with PrebuiltEnv naming the folder, Plugin returns a private copy of
// the right one under the requested name without compiling, and that a request that was
// not prebuilt fails with the line to add to Variants.
func TestPrebuilt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("builds with this system's C compiler; on Windows the folder comes from make test-windows")
	}
	cc := CC(t)
	dir := t.TempDir()
	vs := []Variant{
		{Src: "testdata/plugins/recorder.c"},
		{Src: "testdata/plugins/recorder.c", Flags: []string{`-DRECORDER_NAME="other"`}},
		{Src: "testdata/plugins/recorder.c", Flags: []string{"-iquote", RootVar + "/testdata/plugins"}},
	}
	// What a test passes for the third: a path under the root, as it finds it at run time.
	requested := [][]string{nil, vs[1].Flags, {"-iquote", filepath.Join(Root(t), "testdata", "plugins")}}
	if err := BuildVariants(cc, runtime.GOOS, libExt(), Root(t), dir, vs); err != nil {
		t.Fatal(err)
	}
	if vs[0].Dir() == vs[1].Dir() || vs[0].Dir() == vs[2].Dir() {
		t.Fatalf("two variants share a folder: %s %s %s", vs[0].Dir(), vs[1].Dir(), vs[2].Dir())
	}
	t.Setenv(PrebuiltEnv, dir)
	t.Setenv("CC", "false") // nothing may be compiled: a compile would fail the test

	for i, v := range vs {
		got := Plugin(t, "prebuilt_test", v.Src, requested[i]...)
		if filepath.Base(got) != "libprebuilt_test"+libExt() || strings.HasPrefix(got, dir) {
			t.Errorf("Plugin = %s, want a private copy named libprebuilt_test%s", got, libExt())
		}
		want, err := os.ReadFile(filepath.Join(dir, v.File(libExt())))
		if err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(got); err != nil || string(data) != string(want) {
			t.Errorf("variant %d: %s is not a copy of the prebuilt library (%v)", i, got, err)
		}
	}

	_, err := prebuilt(dir, "testdata/plugins/recorder.c", []string{"-DRECORDER_BATCH"})
	if err == nil || !strings.Contains(err.Error(), `{Src: "testdata/plugins/recorder.c", Flags: []string{"-DRECORDER_BATCH"}}`) {
		t.Errorf("missing variant: %v, want the line to add", err)
	}
}

// TestVariantsUnique: two entries of Variants with the same source and flags would be
// built twice into one folder.
func TestVariantsUnique(t *testing.T) {
	seen := map[string]int{}
	for i, v := range Variants {
		if j, ok := seen[v.Dir()]; ok {
			t.Errorf("Variants[%d] repeats Variants[%d]: %+v", i, j, v)
		}
		seen[v.Dir()] = i
		if _, err := os.Stat(filepath.Join(Root(t), v.Src)); err != nil {
			t.Errorf("Variants[%d]: %v", i, err)
		}
	}
}

// TestMain removes what the tests compiled.
func TestMain(m *testing.M) { Main(m) }
