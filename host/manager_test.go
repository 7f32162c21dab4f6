package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// recorderSetup compiles a recorder variant and writes its config (extra is JSON5 text
// inserted in the object); it returns the config path and the recorder's output file.
func recorderSetup(t *testing.T, variant string, extra string, defines ...string) (cfg, out string) {
	t.Helper()
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, variant, defines...), dir, "lib"+variant+".so")
	out = filepath.Join(dir, "out.txt")
	cfg = writeConfig(t, dir, variant+".json5", fmt.Sprintf("{ libpath: %q, out: %q, %s }", filepath.Base(lib), out, extra))
	return cfg, out
}

var (
	evUpdate  = abi.Event{Kind: abi.MappingUpdate, BlockHeight: 7, ProgramID: []byte("credits.aleo"), MappingName: []byte("account"), Key: []byte{1, 2}, Value: []byte{3, 4, 5}}
	evRemKey  = abi.Event{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("credits.aleo"), MappingName: []byte("account"), Key: []byte{1, 2}, HasKey: true}
	evRemAll  = abi.Event{Kind: abi.MappingRemoval, BlockHeight: 7, ProgramID: []byte("p"), MappingName: []byte("m")}
	evStaking = abi.Event{Kind: abi.StakingReward, BlockHeight: 7, Staker: []byte{0xaa}, Validator: []byte{0xbb}, Reward: 5, NewStake: 105}
	evBlock   = abi.Event{Kind: abi.Block, BlockHeight: 7, Block: []byte{0xde, 0xad}}
	allEvents = []abi.Event{evUpdate, evRemKey, evRemAll, evStaking, evBlock}
	allLines  = []string{
		"ev 0 7 637265646974732e616c656f 6163636f756e74 0102 030405",
		"ev 1 7 637265646974732e616c656f 6163636f756e74 0102",
		"ev 1 7 70 6d nokey",
		"ev 2 7 aa bb 5 105",
		"ev 3 7 dead",
	}
)

func TestLoadBroadcastUnload(t *testing.T) {
	for _, tc := range []struct {
		variant string
		defines []string
		batches []string // the "batch N" lines expected
	}{
		{variant: "recorder", batches: nil},
		{variant: "recorder_batch", defines: []string{"-DRECORDER_BATCH"}, batches: []string{"batch 5", "batch 1"}},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			cfg, out := recorderSetup(t, tc.variant, "", tc.defines...)
			var logs syncBuffer
			m := host.NewManager(host.WithLogger(testLogger(&logs)))
			name, err := m.LoadPlugin(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if name != "recorder" {
				t.Errorf("name = %q, want recorder", name)
			}
			for _, k := range abi.Kinds() {
				if !m.HasSubscribers(k) {
					t.Errorf("HasSubscribers(%v) = false", k)
				}
			}
			if err := m.BroadcastBatch(allEvents); err != nil {
				t.Fatal(err)
			}
			if err := m.Broadcast(evBlock); err != nil {
				t.Fatal(err)
			}
			info, ok := m.Plugin("recorder")
			if !ok || info.Counters.Events != 6 || info.ABIVersion != abi.Version || info.Subscriptions != abi.MaskAll || !info.Native {
				t.Errorf("Plugin info = %+v", info)
			}
			if err := m.UnloadPlugin(name); err != nil {
				t.Fatal(err)
			}
			if len(m.ListPlugins()) != 0 || m.HasSubscribers(abi.Block) {
				t.Errorf("after unload: plugins %v, HasSubscribers(Block) %v", m.ListPlugins(), m.HasSubscribers(abi.Block))
			}
			got := ctest.ReadLines(t, out)
			if !strings.HasPrefix(got[0], "load reload=0 file="+cfg+" json={") {
				t.Errorf("first line %q", got[0])
			}
			want := append(slices.Clone(allLines), "ev 3 7 dead")
			if evs := only(got, "ev "); !slices.Equal(evs, want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(evs, "\n"), strings.Join(want, "\n"))
			}
			if b := only(got, "batch "); !slices.Equal(b, tc.batches) {
				t.Errorf("batches %v, want %v", b, tc.batches)
			}
			tail := got[len(got)-3:]
			if !slices.Equal(tail, []string{"unload", "destroy", "fini"}) {
				t.Errorf("last lines %v, want unload, destroy, fini (library closed)", tail)
			}
			if !strings.Contains(logs.String(), `"plugin":"recorder","message":"recorder loaded"`) {
				t.Errorf("plugin log line missing from %s", logs.String())
			}
		})
	}
}

func TestSubscriptionsFilter(t *testing.T) {
	mask := abi.MaskOf(abi.MappingRemoval, abi.Block)
	cfg, out := recorderSetup(t, "recorder", fmt.Sprintf("events: %d", mask))
	m := host.NewManager()
	if _, err := m.LoadPlugin(cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[abi.EventKind]bool{abi.MappingUpdate: false, abi.MappingRemoval: true, abi.StakingReward: false, abi.Block: true} {
		if m.HasSubscribers(k) != want {
			t.Errorf("HasSubscribers(%v) = %v", k, !want)
		}
	}
	if err := m.BroadcastBatch(allEvents); err != nil {
		t.Fatal(err)
	}
	m.Broadcast(evUpdate)
	m.Unload()
	want := []string{allLines[1], allLines[2], allLines[4]}
	if got := only(ctest.ReadLines(t, out), "ev "); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		defines []string
		extra   string
		want    error
		msg     string // part of the message
		destroy bool   // "destroy" must have been recorded
	}{
		{name: "no_version", defines: []string{"-DRECORDER_NO_VERSION"}, want: host.ErrSymbolMissing, msg: "not a Slipstream 1.x plugin"},
		{name: "no_create", defines: []string{"-DRECORDER_NO_CREATE"}, want: host.ErrSymbolMissing, msg: "_create_plugin"},
		{name: "major2", defines: []string{"-DRECORDER_ABI=0x20000"}, want: host.ErrIncompatibleABI, msg: "plugin ABI 2.0, host ABI 1.1"},
		{name: "newer_minor", defines: []string{"-DRECORDER_ABI=0x10002"}, want: host.ErrIncompatibleABI, msg: "plugin ABI 1.2, host ABI 1.1"},
		{name: "create_null", defines: []string{"-DRECORDER_CREATE_NULL"}, want: host.ErrInvalidPlugin, msg: "_create_plugin returned NULL"},
		{name: "name_null", defines: []string{"-DRECORDER_NAME_NULL"}, want: host.ErrInvalidPlugin, msg: "name() returned NULL"},
		{name: "name_empty", defines: []string{"-DRECORDER_NAME_EMPTY"}, want: host.ErrInvalidPlugin, msg: "empty string"},
		{name: "small_vtable", defines: []string{"-DRECORDER_SMALL_VTABLE"}, want: host.ErrInvalidPlugin, msg: "struct_size 8"},
		{name: "no_callback", defines: []string{"-DRECORDER_NO_CALLBACK"}, want: host.ErrInvalidPlugin, msg: "neither on_broadcast", destroy: true},
		{name: "on_load_fails", extra: `fail_load: "database is on fire"`, want: host.ErrOnLoad, msg: "database is on fire", destroy: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out := recorderSetup(t, "rec_"+tc.name, tc.extra, tc.defines...)
			m := host.NewManager()
			_, err := m.LoadPlugin(cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var le *host.LoadError
			if !errors.As(err, &le) || le.Config != cfg {
				t.Errorf("err %v is not a *LoadError naming %s", err, cfg)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), cfg) {
				t.Errorf("message %q lacks %q or the config path", err, tc.msg)
			}
			if len(m.ListPlugins()) != 0 || m.Subscriptions() != 0 {
				t.Errorf("manager changed: %v %v", m.ListPlugins(), m.Subscriptions())
			}
			if tc.destroy {
				got := ctest.ReadLines(t, out)
				if tail := got[len(got)-2:]; !slices.Equal(tail, []string{"destroy", "fini"}) {
					t.Errorf("recorded %v, want destroy then fini (library closed)", got)
				}
				if slices.Contains(got, "unload") && tc.want == host.ErrOnLoad {
					t.Errorf("on_unload called after a failed on_load: %v", got)
				}
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := writeConfig(t, dir, "libjunk.so", "this is not a shared library")
	os.Chmod(notELF, 0o755)
	whole, err := os.ReadFile(recorder(t, "recorder"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "libtruncated.so"), whole[:len(whole)/3], 0o755)
	tests := []struct {
		name, text string
		want       error
	}{
		{"missing_config", "", host.ErrConfigRead},
		{"bad_json5", "{ libpath: ", host.ErrConfigSyntax},
		{"not_object", "[1, 2]", host.ErrConfigSyntax},
		{"no_libpath", "{ name: 'x' }", host.ErrNoLibpath},
		{"missing_library", "{ libpath: 'nothere.so' }", host.ErrLibraryLoad},
		{"not_elf", "{ libpath: 'libjunk.so' }", host.ErrLibraryLoad},
		{"truncated_elf", "{ libpath: 'libtruncated.so' }", host.ErrLibraryLoad},
		{"bad_policy", "{ libpath: 'libjunk.so', error_policy: 'explode' }", host.ErrConfigInvalid},
		{"bad_capacity", "{ libpath: 'libjunk.so', queue_capacity: -1 }", host.ErrConfigInvalid},
		{"bad_sha", "{ libpath: 'libjunk.so', sha256: 'abc' }", host.ErrConfigInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".json5")
			if tc.text != "" {
				writeConfig(t, dir, tc.name+".json5", tc.text)
			}
			m := host.NewManager()
			_, err := m.LoadPlugin(path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("%q does not name %s", err, path)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	dir := t.TempDir()
	lib := copyLib(t, recorder(t, "recorder"), dir, "librec.so")
	copyLib(t, lib, dir, "librec2.so")
	// Creating a symlink needs a privilege on Windows (and Wine's do not resolve): without
	// the link, only the first and third cases are tried there.
	linkErr := symlink(t, "librec.so", filepath.Join(dir, "librec-link.so"))
	out := filepath.Join(dir, "out.txt")
	a := writeConfig(t, dir, "a.json5", fmt.Sprintf("{libpath: 'librec.so', out: %q}", out))
	samePathViaLink := writeConfig(t, dir, "b.json5", fmt.Sprintf("{libpath: 'librec-link.so', name: 'other', out: %q}", out))
	sameName := writeConfig(t, dir, "c.json5", fmt.Sprintf("{libpath: 'librec2.so', out: %q}", out))
	renamed := writeConfig(t, dir, "d.json5", fmt.Sprintf("{libpath: 'librec2.so', name: 'second', out: %q}", out))

	m := loadManager(t, a)
	defer m.Unload()
	before := len(ctest.ReadLines(t, out))
	refused := []string{a, samePathViaLink, sameName}
	if linkErr != nil {
		refused = []string{a, sameName}
	}
	for _, cfg := range refused {
		if _, err := m.LoadPlugin(cfg); !errors.Is(err, host.ErrAlreadyLoaded) {
			t.Errorf("%s: err = %v, want ErrAlreadyLoaded", cfg, err)
		}
	}
	// The same path is refused before dlopen, so nothing ran; the same name is found only
	// after name(), and that instance is destroyed.
	if got := ctest.ReadLines(t, out)[before:]; len(got) != 0 {
		t.Errorf("refused loads ran plugin code: %v", got)
	}
	if name, err := m.LoadPlugin(renamed); err != nil || name != "second" {
		t.Fatalf("LoadPlugin(renamed) = %q, %v", name, err)
	}
	if got := m.ListPlugins(); !slices.Equal(got, []string{"recorder", "second"}) {
		t.Errorf("ListPlugins = %v", got)
	}
	if err := m.UnloadPlugin("nope"); !errors.Is(err, host.ErrNotLoaded) {
		t.Errorf("UnloadPlugin(nope) = %v", err)
	}
}

// Broadcast's single-event path (single.go) encodes the event into the first C plugin's
// own arena and shares one encoding among the others; an async plugin and a Go plugin
// take the general path. Each gets every event exactly, including a Block larger than an
// arena's first mapping, and one after it (the grown arena reused).
func TestBroadcastOneReachesEveryKind(t *testing.T) {
	big := abi.Event{Kind: abi.Block, BlockHeight: 8, Block: bytes.Repeat([]byte{0xab}, 100<<10)}
	evs := append(slices.Clone(allEvents), big, evUpdate)
	wantLines := append(slices.Clone(allLines), "ev 3 8 "+strings.Repeat("ab", 100<<10), allLines[0])

	m := host.NewManager()
	gr := &ctest.GoRecorder{PluginName: "go"}
	if _, err := m.Register(gr, ""); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, c := range []struct {
		name, extra string
		defines     []string
	}{
		{"single", "", nil},
		{"batch", "", []string{"-DRECORDER_BATCH"}},
		{"async", "delivery: 'async'", nil},
	} {
		cfg, out := recorderSetup(t, "recorder", fmt.Sprintf("name: %q, %s", c.name, c.extra), c.defines...)
		if _, err := m.LoadPlugin(cfg); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	for _, ev := range evs {
		if err := m.Broadcast(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Flush(context.Background()); err != nil { // the async queue delivered
		t.Fatal(err)
	}
	for _, name := range []string{"single", "batch", "async", "go"} {
		if info, _ := m.Plugin(name); info.Counters.Events != uint64(len(evs)) || info.Counters.Calls != uint64(len(evs)) {
			t.Errorf("%s: %d events in %d calls, want %d in %d", name, info.Counters.Events, info.Counters.Calls, len(evs), len(evs))
		}
	}
	m.Unload()
	for _, out := range outs {
		if got := only(ctest.ReadLines(t, out), "ev "); !slices.Equal(got, wantLines) {
			t.Errorf("%s: %d events recorded, want %d; the first that differs: %q", out, len(got), len(wantLines), firstDiff(got, wantLines))
		}
	}
	got := gr.Events()
	if len(got) != len(evs) {
		t.Fatalf("the Go plugin got %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if g, w := got[i], evs[i]; g.Kind != w.Kind || g.BlockHeight != w.BlockHeight || !bytes.Equal(g.Block, w.Block) || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || g.HasKey != w.HasKey || g.Reward != w.Reward {
			t.Errorf("the Go plugin's event %d is %v at %d, want %v at %d", i, g.Kind, g.BlockHeight, w.Kind, w.BlockHeight)
		}
	}
}

// firstDiff returns the first line of got that differs from want's (cut to 80 bytes).
func firstDiff(got, want []string) string {
	for i := range got {
		if i >= len(want) || got[i] != want[i] {
			return got[i][:min(len(got[i]), 80)]
		}
	}
	return "(none: a line is missing)"
}
