package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestMain removes the plugins compiled for the tests.
func TestMain(m *testing.M) { ctest.Main(m) }

// writeConfig writes a JSON5 plugin config into dir: libpath plus the given keys, whose
// values are written as they are (quote strings with strconv.Quote).
func writeConfig(t testing.TB, dir, name, lib string, kv ...string) string {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatal("writeConfig: odd key/value list")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  libpath: %s,\n", strconv.Quote(lib))
	for i := 0; i < len(kv); i += 2 {
		fmt.Fprintf(&b, "  %s: %s,\n", kv[i], kv[i+1])
	}
	b.WriteString("}\n")
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyLib copies the library lib into dir (mode 0755) and returns the copy's path.
func copyLib(t testing.TB, lib, dir string) string {
	t.Helper()
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.Base(lib))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// goRecorder is a Go-native plugin, registered next to the plugins under test, that keeps
// a deep copy of every event the manager delivered: what was sent.
type goRecorder struct {
	name string
	mask abi.EventMask
	mu   sync.Mutex
	evs  []abi.Event
}

func newGoRecorder(name string) *goRecorder { return &goRecorder{name: name, mask: abi.MaskAll} }

func (r *goRecorder) Name() string                    { return r.name }
func (r *goRecorder) OnLoad(string, bool) error       { return nil }
func (r *goRecorder) OnUnload()                       {}
func (r *goRecorder) SubscribedEvents() abi.EventMask { return r.mask }

func (r *goRecorder) OnBroadcast(ev abi.Event) error {
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return bytes.Clone(b)
	}
	ev.ProgramID, ev.MappingName, ev.Key, ev.Value = cp(ev.ProgramID), cp(ev.MappingName), cp(ev.Key), cp(ev.Value)
	ev.Staker, ev.Validator, ev.Block = cp(ev.Staker), cp(ev.Validator), cp(ev.Block)
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	return nil
}

// Events returns a copy of the list of events received so far.
func (r *goRecorder) Events() []abi.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]abi.Event(nil), r.evs...)
}

// sameEvent reports whether two events carry the same kind, height and fields (a nil and
// an empty byte slice are the same bytes).
func sameEvent(a, b abi.Event) bool {
	if a.Kind != b.Kind || a.BlockHeight != b.BlockHeight {
		return false
	}
	switch a.Kind {
	case abi.MappingUpdate:
		return bytes.Equal(a.ProgramID, b.ProgramID) && bytes.Equal(a.MappingName, b.MappingName) &&
			bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
	case abi.MappingRemoval:
		return bytes.Equal(a.ProgramID, b.ProgramID) && bytes.Equal(a.MappingName, b.MappingName) &&
			a.HasKey == b.HasKey && (!a.HasKey || bytes.Equal(a.Key, b.Key))
	case abi.StakingReward:
		return bytes.Equal(a.Staker, b.Staker) && bytes.Equal(a.Validator, b.Validator) &&
			a.Reward == b.Reward && a.NewStake == b.NewStake
	case abi.Block:
		return bytes.Equal(a.Block, b.Block)
	}
	return false
}

// describe renders an event for failure messages.
func describe(ev abi.Event) string {
	switch ev.Kind {
	case abi.MappingUpdate:
		return fmt.Sprintf("%v h=%d %x/%x %x=%x", ev.Kind, ev.BlockHeight, ev.ProgramID, ev.MappingName, ev.Key, ev.Value)
	case abi.MappingRemoval:
		if !ev.HasKey {
			return fmt.Sprintf("%v h=%d %x/%x (mapping)", ev.Kind, ev.BlockHeight, ev.ProgramID, ev.MappingName)
		}
		return fmt.Sprintf("%v h=%d %x/%x %x", ev.Kind, ev.BlockHeight, ev.ProgramID, ev.MappingName, ev.Key)
	case abi.StakingReward:
		return fmt.Sprintf("%v h=%d %x@%x +%d =%d", ev.Kind, ev.BlockHeight, ev.Staker, ev.Validator, ev.Reward, ev.NewStake)
	case abi.Block:
		return fmt.Sprintf("%v h=%d %d bytes %.32x", ev.Kind, ev.BlockHeight, len(ev.Block), ev.Block)
	}
	return ev.Kind.String()
}

// compareEvents fails the test at the first difference between got and want.
func compareEvents(t *testing.T, what string, got, want []abi.Event) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if !sameEvent(got[i], want[i]) {
			t.Fatalf("%s: event %d differs:\n got  %s\n want %s", what, i, describe(got[i]), describe(want[i]))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer = ctest.LogBuffer

// newManager returns a manager logging (debug and up) into a buffer, unloaded at the end
// of the test if the test did not unload it (Unload is idempotent).
func newManager(t *testing.T) (*host.Manager, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	m := host.NewManager(host.WithLogger(zerolog.New(logs).Level(zerolog.DebugLevel)))
	t.Cleanup(m.Unload)
	return m, logs
}

// pluginInfo returns the manager's view of a loaded plugin.
func pluginInfo(t *testing.T, m *host.Manager, name string) host.PluginInfo {
	t.Helper()
	info, ok := m.Plugin(name)
	if !ok {
		t.Fatalf("plugin %q is not loaded (loaded: %v)", name, m.ListPlugins())
	}
	return info
}
