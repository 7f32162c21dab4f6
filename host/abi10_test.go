package host_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestABI10PluginLoads builds the recorder against the frozen 1.0 header
// (testdata/abi/1.0/slipstream.h, found first for the recorder's #include "slipstream.h"
// through -iquote) and loads it in this host: a 1.0
// plugin's 64-byte vtable has no resume_height, which the host reads as NULL, and the plugin
// gets every event as before.
func TestABI10PluginLoads(t *testing.T) {
	frozen := filepath.Join(ctest.Root(t), "testdata", "abi", "1.0")
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder_abi10", "-iquote", frozen), dir, "librec10.so")
	out := filepath.Join(dir, "out.txt")
	cfg := writeConfig(t, dir, "rec.json5", fmt.Sprintf("{libpath: %q, out: %q}", filepath.Base(lib), out))
	m := host.NewManager()
	defer m.Unload()
	name, err := m.LoadPlugin(cfg)
	if err != nil {
		t.Fatalf("a 1.0 plugin must load in a %s host: %v", abi.VersionString(abi.Version), err)
	}
	info, _ := m.Plugin(name)
	if info.ABIVersion != abi.Major<<16 {
		t.Fatalf("ABIVersion = %s, want 1.0 (was the frozen header used?)", abi.VersionString(info.ABIVersion))
	}
	evs := []abi.Event{
		{Kind: abi.MappingUpdate, BlockHeight: 1, ProgramID: []byte{1}, MappingName: []byte{2}, Key: []byte{3}, Value: []byte{4}},
		{Kind: abi.Block, BlockHeight: 1, Block: []byte{5}},
	}
	if err := m.BroadcastBatch(evs); err != nil {
		t.Fatal(err)
	}
	m.Unload()
	got := ctest.ReadLines(t, out)
	want := []string{"ev 0 1 01 02 03 04", "ev 3 1 05"}
	var evLines []string
	for _, l := range got {
		if len(l) > 3 && l[:3] == "ev " {
			evLines = append(evLines, l)
		}
	}
	if !slices.Equal(evLines, want) {
		t.Fatalf("the 1.0 plugin saw %q, want %q (all lines: %q)", evLines, want, got)
	}
}
