package e2e_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/finalize"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// smallChain drives a short chain with every kind of change through s: inserts, updates,
// key removals, a replacement, mapping and program removals, a rewound checkpoint, an
// aborted block, a dry run, staking rewards (a reward, a shrunk stake, a leaving staker, a
// stake above 2^63) and blocks, with binary keys and values (zero bytes, 0xff, an empty
// value, a 256 KiB block). It returns the number of blocks committed.
func smallChain(t *testing.T, s *finalize.Store) int {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cr, acct, bonded := []byte("credits.aleo"), []byte("account"), []byte("bonded")
	tok, bal := []byte{0x00, 't', 'o', 'k', 0xff}, []byte{0x01, 0x00}
	addr := func(i byte) []byte { return append(make([]byte, 31), i) }
	u64 := func(v uint64) []byte {
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	whale := uint64(math.MaxUint64 - 1000)
	stakers := func(a, b, w uint64) []finalize.Staker {
		return []finalize.Staker{
			{Address: addr(1), Validator: addr(100), Stake: a},
			{Address: addr(2), Validator: addr(100), Stake: b},
			{Address: addr(3), Validator: addr(101), Stake: w},
		}
	}
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	blocks := 0
	block := func(h uint32, fn func() error, bytes []byte) error { // the finalize package doc's wiring
		err := s.Finalize(h, finalize.RealRun, func() error {
			if err := fn(); err != nil {
				return err
			}
			return s.NotifyBlock(bytes, h)
		})
		if err == nil {
			blocks++ // an aborted block gets no Block event
		}
		return err
	}
	must(block(10, func() error {
		must(s.InitializeMapping(cr, acct))
		must(s.InitializeMapping(cr, bonded))
		must(s.InitializeMapping(tok, bal))
		must(s.InsertKeyValue(cr, acct, addr(1), u64(100)))
		must(s.InsertKeyValue(cr, acct, addr(2), u64(0)))
		must(s.UpdateKeyValue(tok, bal, addr(1), []byte{0xff, 0x00, 0xff}))
		must(s.UpdateKeyValue(tok, bal, addr(2), []byte{}))
		s.NotifyStakingRewards(stakers(1000, 500, whale-10), stakers(1010, 500, whale), 10)
		return nil
	}, []byte("block ten")))
	must(block(11, func() error {
		must(s.UpdateKeyValue(cr, acct, addr(1), u64(90)))
		must(s.AtomicCheckpoint())
		must(s.UpdateKeyValue(cr, acct, addr(2), u64(1)))
		must(s.RemoveKeyValue(cr, acct, addr(1)))
		must(s.AtomicRewind())
		must(s.RemoveKeyValue(cr, acct, addr(9))) // absent: no event
		must(s.RemoveKeyValue(tok, bal, addr(1)))
		must(s.ReplaceMapping(cr, bonded, []finalize.Entry{{Key: addr(1), Value: u64(1010)}, {Key: addr(3), Value: u64(whale)}}))
		s.NotifyStakingRewards(stakers(1010, 500, whale), stakers(1005, 520, math.MaxUint64), 11)
		return nil
	}, big))
	if err := block(12, func() error {
		must(s.UpdateKeyValue(cr, acct, addr(1), u64(1)))
		s.NotifyStakingRewards(stakers(1005, 520, math.MaxUint64), stakers(2000, 520, 0), 12)
		return errors.New("block 12 rejected")
	}, []byte{}); err == nil {
		t.Fatal("the aborted block committed")
	}
	if err := s.Finalize(13, finalize.DryRun, func() error { return s.RemoveProgram(cr) }); err != nil {
		t.Fatal(err)
	}
	must(block(13, func() error {
		must(s.RemoveMapping(tok, bal))
		must(s.InitializeMapping(tok, []byte("supply")))
		must(s.UpdateKeyValue(tok, []byte("supply"), []byte{0}, u64(7)))
		must(s.RemoveProgram(tok))
		must(s.InitializeMapping(tok, bal))
		must(s.InsertKeyValue(tok, bal, addr(1), []byte{0}))
		s.NotifyStakingRewards(stakers(1005, 520, math.MaxUint64), stakers(1005, 530, 0)[1:], 13)
		return nil
	}, []byte{0, 1, 2, 0}))
	return blocks
}

// ndjsonLine is one line of the Rust example plugin's log (plugins/example_rust/README.md).
type ndjsonLine struct {
	Kind        string  `json:"kind"`
	BlockHeight *uint32 `json:"block_height"`
	ProgramID   *string `json:"program_id"`
	MappingName *string `json:"mapping_name"`
	Key         *string `json:"key"`
	Value       *string `json:"value"`
	Staker      *string `json:"staker"`
	Validator   *string `json:"validator"`
	Reward      *uint64 `json:"reward"`
	NewStake    *uint64 `json:"new_stake"`
	Block       *string `json:"block"`
}

// readNDJSON parses the Rust example plugin's log into events; a field of the wrong kind,
// a missing field or invalid hex fails the test.
func readNDJSON(t *testing.T, path string) []abi.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	var evs []abi.Event
	for n := 1; sc.Scan(); n++ {
		ev, err := parseNDJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("%s:%d: %v\n%.200s", path, n, err, sc.Text())
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func parseNDJSON(line []byte) (abi.Event, error) {
	var l ndjsonLine
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return abi.Event{}, err
	}
	if l.BlockHeight == nil {
		return abi.Event{}, errors.New("no block_height")
	}
	ev := abi.Event{BlockHeight: *l.BlockHeight}
	var err error
	hexField := func(name string, p *string, dst *[]byte) {
		if err != nil {
			return
		}
		if p == nil {
			err = fmt.Errorf("no %s", name)
			return
		}
		if *p != strings.ToLower(*p) {
			err = fmt.Errorf("%s is not lowercase hex", name)
			return
		}
		*dst, err = hex.DecodeString(*p)
	}
	present := map[string]bool{
		"program_id": l.ProgramID != nil, "mapping_name": l.MappingName != nil, "value": l.Value != nil,
		"staker": l.Staker != nil, "validator": l.Validator != nil, "reward": l.Reward != nil,
		"new_stake": l.NewStake != nil, "block": l.Block != nil,
	}
	var fields []string
	switch l.Kind {
	case "MappingUpdate":
		ev.Kind, ev.HasKey = abi.MappingUpdate, true
		hexField("program_id", l.ProgramID, &ev.ProgramID)
		hexField("mapping_name", l.MappingName, &ev.MappingName)
		hexField("key", l.Key, &ev.Key)
		hexField("value", l.Value, &ev.Value)
		fields = []string{"program_id", "mapping_name", "value"}
	case "MappingRemoval":
		ev.Kind = abi.MappingRemoval
		hexField("program_id", l.ProgramID, &ev.ProgramID)
		hexField("mapping_name", l.MappingName, &ev.MappingName)
		if l.Key != nil { // "key":null is a whole-mapping removal
			ev.HasKey = true
			hexField("key", l.Key, &ev.Key)
		} else if !strings.Contains(string(line), `"key":null`) {
			return abi.Event{}, errors.New(`a removal without "key"`)
		}
		fields = []string{"program_id", "mapping_name"}
	case "StakingReward":
		ev.Kind = abi.StakingReward
		hexField("staker", l.Staker, &ev.Staker)
		hexField("validator", l.Validator, &ev.Validator)
		if l.Reward == nil || l.NewStake == nil {
			return abi.Event{}, errors.New("no reward or new_stake")
		}
		ev.Reward, ev.NewStake = *l.Reward, *l.NewStake
		fields = []string{"staker", "validator", "reward", "new_stake"}
	case "Block":
		ev.Kind = abi.Block
		hexField("block", l.Block, &ev.Block)
		fields = []string{"block"}
	default:
		return abi.Event{}, fmt.Errorf("unknown kind %q", l.Kind)
	}
	if err != nil {
		return abi.Event{}, err
	}
	if (ev.Kind == abi.StakingReward || ev.Kind == abi.Block) && strings.Contains(string(line), `"key":`) {
		return abi.Event{}, fmt.Errorf(`field "key" in a %s line`, l.Kind)
	}
	for k, ok := range present {
		want := false
		for _, f := range fields {
			want = want || f == k
		}
		if ok != want {
			return abi.Event{}, fmt.Errorf("field %q present=%v in a %s line", k, ok, l.Kind)
		}
	}
	return ev, nil
}

// Issue 5, proof 1: the Rust example plugin, loaded through host.Manager and fed by
// finalize.Store, logs exactly the events that were sent (a Go-native plugin on the same
// manager records them), byte for byte after hex decoding, with no error. A second
// instance subscribed to two kinds (snake_case names in its config) logs only those.
func TestRustExampleNDJSON(t *testing.T) {
	lib := ctest.Cargo(t, "plugins/example_rust", "slipstream_example_rust")
	dir := t.TempDir()
	m, logs := newManager(t)
	sent := newGoRecorder("sent")
	all := mustLoad(t, m, writeConfig(t, dir, "all.json5", lib, "path", `"all.ndjson"`), sent)
	// The same library twice must come from two paths: the host refuses a library already
	// loaded.
	some, err := m.LoadPlugin(writeConfig(t, dir, "some.json5", copyLib(t, lib, dir), "name", `"ndjson-some"`,
		"path", strconv.Quote(filepath.Join(dir, "some.ndjson")), "events", `["staking_reward", "Block"]`))
	if err != nil {
		t.Fatal(err)
	}
	if info := pluginInfo(t, m, some); info.Subscriptions != abi.MaskOf(abi.StakingReward, abi.Block) {
		t.Errorf("%s subscribes to %v", some, info.Subscriptions)
	}

	s := finalize.NewStore()
	s.SetSlipstreamPluginManager(m)
	blocks := smallChain(t, s)
	infoAll, infoSome := pluginInfo(t, m, all), pluginInfo(t, m, some)
	m.Unload()

	want := sent.Events()
	kinds := map[abi.EventKind]int{}
	keyless := 0
	for _, ev := range want {
		kinds[ev.Kind]++
		if ev.Kind == abi.MappingRemoval && !ev.HasKey {
			keyless++
		}
	}
	if len(kinds) != 4 || keyless == 0 || kinds[abi.Block] != blocks {
		t.Fatalf("the chain did not produce every kind: %v (keyless removals %d, blocks %d)", kinds, keyless, blocks)
	}
	compareEvents(t, "all.ndjson", readNDJSON(t, filepath.Join(dir, "all.ndjson")), want)
	var wantSome []abi.Event
	for _, ev := range want {
		if ev.Kind == abi.StakingReward || ev.Kind == abi.Block {
			wantSome = append(wantSome, ev)
		}
	}
	compareEvents(t, "some.ndjson", readNDJSON(t, filepath.Join(dir, "some.ndjson")), wantSome)
	for _, info := range []struct {
		c    uint64
		errs uint64
		n    int
	}{{infoAll.Counters.Events, infoAll.Counters.Errors, len(want)}, {infoSome.Counters.Events, infoSome.Counters.Errors, len(wantSome)}} {
		if info.c != uint64(info.n) || info.errs != 0 {
			t.Errorf("counters: %d events, %d errors; want %d events, 0 errors\n%s", info.c, info.errs, info.n, logs)
		}
	}
}

// Issue 5, proof 2: a plugin built on the Rust SDK that panics inside on_broadcast. The
// host logs the error with the plugin's name and counts it, the process lives, and every
// later event is still delivered, to the panicking plugin (its record file lists every
// event, panicked or not) and to the plugins beside it.
func TestRustPanickyPlugin(t *testing.T) {
	lib := ctest.Cargo(t, "sdk/rust/testplugins/panicky", "slipstream_test_panicky")
	tests := []struct {
		name   string
		config []string
		panics func(ev abi.Event, nth int) bool // nth counts the events of the panicking kinds from 1
		// exact, if set, is the number of failed callbacks expected (Block events are
		// delivered one per call, outside the block's batch).
		exact bool
	}{
		{"every block", []string{"panic_kinds", `"Block"`},
			func(ev abi.Event, _ int) bool { return ev.Kind == abi.Block }, true},
		{"every 2nd mapping update", []string{"panic_kinds", `["MappingUpdate"]`, "panic_every", "2"},
			func(ev abi.Event, nth int) bool { return ev.Kind == abi.MappingUpdate && nth%2 == 0 }, false},
		{"every event", nil, func(abi.Event, int) bool { return true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m, logs := newManager(t)
			sent := newGoRecorder("sent")
			cfg := writeConfig(t, dir, "panicky.json5", lib, append([]string{"record", `"record.txt"`}, tt.config...)...)
			name := mustLoad(t, m, cfg, sent)
			after := newGoRecorder("after") // loaded after the panicking plugin: delivered to later
			if _, err := m.Register(after, ""); err != nil {
				t.Fatal(err)
			}
			s := finalize.NewStore()
			s.SetSlipstreamPluginManager(m)
			smallChain(t, s)
			// The process is alive and the manager still delivers: one more block.
			if err := s.Finalize(20, finalize.RealRun, func() error {
				if err := s.InitializeMapping([]byte("late.aleo"), []byte("m")); err != nil {
					return err
				}
				return s.UpdateKeyValue([]byte("late.aleo"), []byte("m"), []byte("k"), []byte("v"))
			}); err != nil {
				t.Fatalf("Finalize after the panics: %v", err)
			}
			if err := s.NotifyBlock([]byte("late"), 20); err != nil {
				t.Fatalf("NotifyBlock after the panics: %v", err)
			}
			info := pluginInfo(t, m, name)
			m.Unload()

			want := sent.Events()
			compareEvents(t, "plugin loaded after the panicking one", after.Events(), want)
			// The record: one line per delivered event, "<Kind> <height> panic|ok".
			var wantRec []string
			panics, nth := 0, 0
			for _, ev := range want {
				if tt.config == nil || strings.Contains(tt.config[1], ev.Kind.String()) {
					nth++
				}
				p := tt.panics(ev, nth)
				word := "ok"
				if p {
					word = "panic"
					panics++
				}
				wantRec = append(wantRec, fmt.Sprintf("%v %d %s", ev.Kind, ev.BlockHeight, word))
			}
			rec, err := os.ReadFile(filepath.Join(dir, "record.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSuffix(string(rec), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(wantRec, "\n") {
				t.Fatalf("record.txt:\n%s\nwant:\n%s", rec, strings.Join(wantRec, "\n"))
			}
			c := info.Counters
			if c.Events != uint64(len(want)) {
				t.Errorf("the panicking plugin was handed %d events, want %d", c.Events, len(want))
			}
			if panics == 0 || c.Errors == 0 || c.Errors > uint64(panics) || c.Errors > c.Calls ||
				(tt.exact && c.Errors != uint64(panics)) {
				t.Errorf("%d failed callbacks of %d calls for %d panics", c.Errors, c.Calls, panics)
			}
			if !strings.Contains(c.LastError, "panic in on_broadcast: deliberate panic on ") {
				t.Errorf("last error %q does not carry the panic message", c.LastError)
			}
			if info.State != "active" {
				t.Errorf("state %q after panics with error_policy log", info.State)
			}
			// Logged as a warning naming the plugin, with the panic message.
			var found bool
			for _, l := range strings.Split(logs.String(), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(l), &rec) != nil {
					continue
				}
				if rec["level"] == "warn" && strings.Contains(l, "deliberate panic on ") && strings.Contains(l, name) {
					found = true
				}
			}
			if !found {
				t.Errorf("no warning naming %q with the panic in the log:\n%s", name, logs)
			}
		})
	}
}
