package finalize

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// TestMain removes the C plugins compiled for this package's tests and benchmarks.
func TestMain(m *testing.M) { ctest.Main(m) }

const recorderGolden = "chain_recorder.golden"

// writeRecorderConfig writes a config for the C recorder plugin lib into dir, recording to
// dir/rec.txt, and returns the config's path and the record's path. extra are more fields
// ("delivery: 'async'").
func writeRecorderConfig(t testing.TB, dir, lib string, extra ...string) (cfg, out string) {
	t.Helper()
	out = filepath.Join(dir, "rec.txt")
	cfg = filepath.Join(dir, "recorder.json5")
	text := fmt.Sprintf("{ libpath: %s, out: %s, %s }\n", strconv.Quote(lib), strconv.Quote(out), strings.Join(extra, ", "))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, out
}

// Issue 3 item 7: the scripted chain (chain_test.go) driven through the store into a real
// host.Manager with the C recorder plugin, compiled with on_broadcast only (single) and
// with on_broadcast_batch only (batch). What the plugin recorded ("ev" lines: kind, height,
// byte fields as hex, numbers) must equal testdata/chain_recorder.golden, which
// TestRecorderGoldenMatchesChainGolden ties to testdata/chain.golden (the fake manager's).
// go test -run RecorderChain -update rewrites the golden file.
func TestRecorderChainGolden(t *testing.T) {
	tests := []struct {
		name, lib string
		flags     []string
		batch     bool
	}{
		{"single", "recorder_single", nil, false},
		{"batch", "recorder_batch", []string{"-DRECORDER_BATCH"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lib := ctest.Plugin(t, tt.lib, "testdata/plugins/recorder.c", tt.flags...)
			cfg, out := writeRecorderConfig(t, t.TempDir(), lib)
			m := host.NewManager()
			name, err := m.LoadPlugin(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := NewStore()
			s.SetSlipstreamPluginManager(m)
			scriptedChain(t, s)
			info, ok := m.Plugin(name)
			m.Unload()
			if !ok {
				t.Fatalf("plugin %q not listed", name)
			}

			all := ctest.ReadLines(t, out)
			var evs, batches []string
			for _, l := range all {
				switch {
				case strings.HasPrefix(l, "ev "):
					evs = append(evs, l)
				case strings.HasPrefix(l, "batch "):
					batches = append(batches, l)
				}
			}
			got := strings.Join(evs, "\n") + "\n"
			path := filepath.Join("testdata", recorderGolden)
			if *update && !tt.batch {
				mustNil(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			mustNil(t, err)
			if got != string(want) {
				t.Fatalf("the recorder's events differ from %s:\n%s", path, got)
			}

			// Delivery shape: the batch plugin got every block's held events in one call per
			// finished batch (blocks 1, 2 and 3: mapping events and rewards) plus one per
			// NotifyBlock made outside a batch; the single plugin got no batch call.
			if tt.batch {
				wantBatches := []string{"batch 3", "batch 1", "batch 5", "batch 1", "batch 10", "batch 1"}
				if !slices.Equal(batches, wantBatches) {
					t.Errorf("batch calls %q, want %q", batches, wantBatches)
				}
			} else if len(batches) != 0 {
				t.Errorf("the single-event plugin recorded batch calls: %q", batches)
			}
			if info.Counters.Events != uint64(len(evs)) || info.Counters.Errors != 0 {
				t.Errorf("counters: %d events, %d errors; the plugin recorded %d events",
					info.Counters.Events, info.Counters.Errors, len(evs))
			}
			// The lifecycle ends in order: on_unload, destroy, and the library closed.
			if n := len(all); n < 3 || !slices.Equal(all[n-3:], []string{"unload", "destroy", "fini"}) {
				t.Errorf("the record does not end with unload, destroy, fini: %q", all[max(0, n-3):])
			}
		})
	}
}

// Issue 15 item 1: the store hands its held batches to the manager as it wrote them, in C
// memory (internal/hostlink); the instances that take Go events get them decoded from
// there. One manager with a Go-native plugin, the C batch recorder delivered async (its
// queue copies) and the C single-event recorder: each gets the scripted chain exactly.
func TestHeldBatchesReachEveryInstanceKind(t *testing.T) {
	m := host.NewManager()
	gr := &ctest.GoRecorder{}
	if _, err := m.Register(gr, ""); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, c := range []struct {
		lib, delivery string
		flags         []string
	}{
		{"recorder_batch", "async", []string{"-DRECORDER_BATCH"}},
		{"recorder_single", "sync", nil},
	} {
		lib := ctest.Plugin(t, c.lib, "testdata/plugins/recorder.c", c.flags...)
		cfg, out := writeRecorderConfig(t, t.TempDir(), lib, "name: "+strconv.Quote(c.lib), "delivery: "+strconv.Quote(c.delivery))
		if _, err := m.LoadPlugin(cfg); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	s := NewStore()
	s.SetSlipstreamPluginManager(m)
	scriptedChain(t, s)
	m.Unload() // drains the async queue

	want, err := os.ReadFile(filepath.Join("testdata", "chain.golden"))
	mustNil(t, err)
	if got := strings.Join(evStrings(gr.Events()), "\n") + "\n"; got != string(want) {
		t.Errorf("the Go plugin's events differ from chain.golden:\n%s", got)
	}
	wantRec, err := os.ReadFile(filepath.Join("testdata", recorderGolden))
	mustNil(t, err)
	for _, out := range outs {
		var evs []string
		for _, l := range ctest.ReadLines(t, out) {
			if strings.HasPrefix(l, "ev ") {
				evs = append(evs, l)
			}
		}
		if got := strings.Join(evs, "\n") + "\n"; got != string(wantRec) {
			t.Errorf("%s: the recorder's events differ from %s:\n%s", out, recorderGolden, got)
		}
	}
}

// The two golden files describe the same events: every recorder line of
// chain_recorder.golden, decoded, renders as the matching line of chain.golden.
func TestRecorderGoldenMatchesChainGolden(t *testing.T) {
	rec := ctest.ReadLines(t, filepath.Join("testdata", recorderGolden))
	fake := ctest.ReadLines(t, filepath.Join("testdata", "chain.golden"))
	var decoded []string
	for i, l := range rec {
		ev, err := parseRecorderLine(l)
		if err != nil {
			t.Fatalf("%s:%d: %v", recorderGolden, i+1, err)
		}
		decoded = append(decoded, evString(ev))
	}
	if !slices.Equal(decoded, fake) {
		t.Fatalf("%s decodes to\n  %s\nchain.golden has\n  %s", recorderGolden,
			strings.Join(decoded, "\n  "), strings.Join(fake, "\n  "))
	}
}

// parseRecorderLine decodes one "ev K H fields…" line of the C recorder (testdata/plugins/
// recorder.c): byte fields are hex, "-" when empty; a keyless removal ends in "nokey".
func parseRecorderLine(line string) (abi.Event, error) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "ev" {
		return abi.Event{}, fmt.Errorf("not an event line: %q", line)
	}
	kind, err := strconv.ParseUint(f[1], 10, 8)
	if err != nil {
		return abi.Event{}, err
	}
	h, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return abi.Event{}, err
	}
	ev := abi.Event{Kind: abi.EventKind(kind), BlockHeight: uint32(h)}
	args := f[3:]
	bytesAt := func(i int) ([]byte, error) {
		if args[i] == "-" {
			return []byte{}, nil
		}
		return hex.DecodeString(args[i])
	}
	var fields []*[]byte
	want := 0
	switch ev.Kind {
	case abi.MappingUpdate:
		ev.HasKey = true
		fields, want = []*[]byte{&ev.ProgramID, &ev.MappingName, &ev.Key, &ev.Value}, 4
	case abi.MappingRemoval:
		want = 3
		if len(args) == 3 && args[2] == "nokey" {
			fields = []*[]byte{&ev.ProgramID, &ev.MappingName}
		} else {
			ev.HasKey = true
			fields = []*[]byte{&ev.ProgramID, &ev.MappingName, &ev.Key}
		}
	case abi.StakingReward:
		fields, want = []*[]byte{&ev.Staker, &ev.Validator}, 4
	case abi.Block:
		fields, want = []*[]byte{&ev.Block}, 1
	default:
		return abi.Event{}, fmt.Errorf("unknown kind in %q", line)
	}
	if len(args) != want {
		return abi.Event{}, fmt.Errorf("%d fields in %q, want %d", len(args), line, want)
	}
	for i, p := range fields {
		if *p, err = bytesAt(i); err != nil {
			return abi.Event{}, fmt.Errorf("field %d of %q: %v", i, line, err)
		}
	}
	if ev.Kind == abi.StakingReward {
		if ev.Reward, err = strconv.ParseUint(args[2], 10, 64); err != nil {
			return abi.Event{}, err
		}
		if ev.NewStake, err = strconv.ParseUint(args[3], 10, 64); err != nil {
			return abi.Event{}, err
		}
	}
	return ev, nil
}
