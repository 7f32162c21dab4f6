package finalize

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// kindsPlugin is a Go-native plugin that records the events of the kinds in mask (copies)
// and returns err from OnBroadcast for the kinds in fail.
type kindsPlugin struct {
	mask, fail abi.EventMask
	err        error

	mu  sync.Mutex
	got []abi.Event
}

func (p *kindsPlugin) Name() string                    { return "recording" }
func (p *kindsPlugin) OnLoad(string, bool) error       { return nil }
func (p *kindsPlugin) OnUnload()                       {}
func (p *kindsPlugin) SubscribedEvents() abi.EventMask { return p.mask }
func (p *kindsPlugin) OnBroadcast(ev abi.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, ctest.CopyEvent(ev))
	if p.fail.Has(ev.Kind) {
		return p.err
	}
	return nil
}

func (p *kindsPlugin) events() []abi.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func (p *kindsPlugin) kinds() []abi.EventKind {
	var out []abi.EventKind
	for _, ev := range p.events() {
		out = append(out, ev.Kind)
	}
	return out
}

// newPluginStore returns a store fed by a real host.Manager with p registered (with the
// given config text, if any).
func newPluginStore(t *testing.T, p host.Plugin, config string) (*Store, *host.Manager) {
	t.Helper()
	m := host.NewManager()
	t.Cleanup(m.Unload)
	cfg := ""
	if config != "" {
		cfg = filepath.Join(t.TempDir(), "plugin.json5")
		mustNil(t, os.WriteFile(cfg, []byte(config), 0o600))
	}
	if _, err := m.Register(p, cfg); err != nil {
		t.Fatal(err)
	}
	s := NewStore()
	s.SetSlipstreamPluginManager(m)
	return s, m
}

// Port of snarkVM's test_slipstream_streams_mappings_rewards_and_blocks
// (ledger/store/src/program/finalize.rs, the vicsn/snarkVM 4.11 line), in this API: mapping
// and staking events need Slipstream on and a canonical finalization, a Block event only
// Slipstream on. snarkVM's store starts with the flag off; ours starts on, so the test turns
// it off first. snarkVM's is_finalize_mode flag is Finalize with RealRun here.
func TestSlipstreamStreamsMappingsRewardsAndBlocks(t *testing.T) {
	p := &kindsPlugin{mask: abi.MaskOf(abi.MappingUpdate, abi.StakingReward, abi.Block)}
	s, _ := newPluginStore(t, p, "")
	prog, mp, key, val := b("hello.aleo"), b("account"), b("123456789field"), b("1u64")
	s.SetSlipstream(false)
	mustNil(t, s.InitializeMapping(prog, mp))

	// The flag is off: a write, even in a canonical finalization, emits nothing.
	mustNil(t, s.Finalize(3, RealRun, func() error { return s.UpdateKeyValue(prog, mp, key, val) }))
	if got := p.kinds(); len(got) != 0 {
		t.Fatalf("flag off: the plugin saw %v", got)
	}

	// The flag is on, but the write is outside a canonical finalization.
	s.SetSlipstream(true)
	mustNil(t, s.UpdateKeyValue(prog, mp, key, val))
	if got := p.kinds(); len(got) != 0 {
		t.Fatalf("outside finalize: the plugin saw %v", got)
	}

	// In finalize: an update, a replacement by two entries (it drops key: a removal the
	// plugin did not subscribe to), a reward of 100 → 140.
	staker, validator := b("aleo1staker"), b("aleo1validator")
	mustNil(t, s.Finalize(4, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(prog, mp, key, val))
		mustNil(t, s.ReplaceMapping(prog, mp, []Entry{{b("1field"), b("2u64")}, {b("2field"), b("3u64")}}))
		s.NotifyStakingRewards([]Staker{{staker, validator, 100}}, []Staker{{staker, validator, 140}}, 4)
		return nil
	}))
	// The block, outside finalize (it needs only the flag).
	mustNil(t, s.NotifyBlock(b("7u32"), 4))

	// Once the flag is cleared, writes in finalize stay local.
	s.SetSlipstream(false)
	mustNil(t, s.Finalize(5, RealRun, func() error { return s.UpdateKeyValue(prog, mp, b("9field"), b("9u64")) }))
	mustNil(t, s.NotifyBlock(b("8u32"), 5))

	want := []abi.EventKind{abi.MappingUpdate, abi.MappingUpdate, abi.MappingUpdate, abi.StakingReward, abi.Block}
	if got := p.kinds(); !slices.Equal(got, want) {
		t.Fatalf("the plugin saw %v, want %v", got, want)
	}
	evs := p.events()
	if got, want := evStrings(evs), []string{
		"U4 hello.aleo/account 123456789field=1u64",
		"U4 hello.aleo/account 1field=2u64",
		"U4 hello.aleo/account 2field=3u64",
		"S4 aleo1staker@aleo1validator +40 =140",
		"B4 7u32",
	}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// Issue 12.1: ReplaceMapping removes, with their keys, exactly the old keys that the new
// entries drop, in the old mapping's order (bytewise key order, whatever order they were
// written in), all before the replacement's updates; a key that stays gets no removal.
func TestReplaceMappingRemovesDroppedKeys(t *testing.T) {
	tests := []struct {
		name    string
		old     []string // keys written before, in this order (value = key)
		entries []Entry
		kinds   []abi.EventKind // subscriptions; none: all
		want    []string
	}{
		{"drops and keeps", []string{"c", "a", "d", "b"}, []Entry{{b("b"), b("B")}, {b("e"), b("E")}}, nil,
			[]string{"R4 p/m a", "R4 p/m c", "R4 p/m d", "U4 p/m b=B", "U4 p/m e=E"}},
		{"keeps all", []string{"x", "y"}, []Entry{{b("y"), b("1")}, {b("x"), b("2")}}, nil,
			[]string{"U4 p/m y=1", "U4 p/m x=2"}},
		{"empty old mapping", nil, []Entry{{b("k"), b("v")}}, nil, []string{"U4 p/m k=v"}},
		{"to empty", []string{"b", "a"}, nil, nil, []string{"R4 p/m a", "R4 p/m b"}},
		{"duplicates in entries", []string{"a", "z"}, []Entry{{b("z"), b("1")}, {b("n"), b("2")}, {b("z"), b("3")}}, nil,
			[]string{"R4 p/m a", "U4 p/m z=1", "U4 p/m n=2", "U4 p/m z=3"}},
		{"removals only", []string{"a", "b"}, []Entry{{b("b"), b("1")}}, []abi.EventKind{abi.MappingRemoval},
			[]string{"R4 p/m a"}},
		{"updates only", []string{"a", "b"}, []Entry{{b("b"), b("1")}}, []abi.EventKind{abi.MappingUpdate},
			[]string{"U4 p/m b=1"}},
	}
	for _, tt := range tests {
		for _, batched := range []bool{true, false} {
			name := tt.name + map[bool]string{true: "/batch", false: "/single"}[batched]
			t.Run(name, func(t *testing.T) {
				s, r := newRecorded(t, tt.kinds...)
				for _, k := range tt.old {
					mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b(k), b(k))) // not canonical: silent
				}
				replace := func() error { return s.ReplaceMapping(b("p"), b("m"), tt.entries) }
				if batched {
					mustNil(t, s.Finalize(4, RealRun, replace))
				} else {
					s.SetCanonical(true)
					s.SetCurrentBlockHeight(4)
					mustNil(t, replace())
				}
				wantEvents(t, r, tt.want...)
				if n := len(r.Calls()); (len(tt.want) == 0 && n != 0) || (len(tt.want) > 0 && n != 1) {
					t.Errorf("%d calls for one replacement, want one", n)
				}
				// The state is the replacement.
				es, err := s.Entries(b("p"), b("m"))
				mustNil(t, err)
				want := map[string]string{}
				for _, e := range tt.entries {
					want[string(e.Key)] = string(e.Value)
				}
				if len(es) != len(want) {
					t.Fatalf("entries %v, want %v", es, want)
				}
				for _, e := range es {
					if want[string(e.Key)] != string(e.Value) {
						t.Fatalf("entries %v, want %v", es, want)
					}
				}
			})
		}
	}
}

// Issue 12.1: a replacement rewound to a checkpoint restores the old mapping and drops its
// removals and updates; one kept after the checkpoint is delivered.
func TestReplaceMappingRewound(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("b"), b("2")))
	mustNil(t, s.Finalize(6, RealRun, func() error {
		mustNil(t, s.AtomicCheckpoint())
		mustNil(t, s.ReplaceMapping(b("p"), b("m"), []Entry{{b("z"), b("9")}}))
		mustNil(t, s.AtomicRewind())
		return s.ReplaceMapping(b("p"), b("m"), []Entry{{b("a"), b("3")}})
	}))
	wantEvents(t, r, "R6 p/m b", "U6 p/m a=3")
}

// Issue 12.2: the validator and new_stake come from the next set; a staker missing from it
// keeps its current validator and stake with reward 0; a staker only in next gets no event.
func TestStakingRewardsValidatorFromNextSet(t *testing.T) {
	tests := []rewardCase{
		{"moved to another validator", []Staker{st("a", "v1", 100)}, []Staker{st("a", "v2", 140)}, []string{"S5 a@v2 +40 =140"}},
		{"moved, stake shrank", []Staker{st("a", "v1", 100)}, []Staker{st("a", "v2", 60)}, []string{"S5 a@v2 +0 =60"}},
		{"missing from next", []Staker{st("a", "v1", 100), st("b", "v2", 7)}, []Staker{st("b", "v3", 8)},
			[]string{"S5 a@v1 +0 =100", "S5 b@v3 +1 =8"}},
		{"only in next", []Staker{st("a", "v1", 1)}, []Staker{st("new", "v9", 5), st("a", "v1", 1)}, []string{"S5 a@v1 +0 =1"}},
		{"current order", []Staker{st("b", "v1", 1), st("a", "v1", 1)}, []Staker{st("a", "v2", 2), st("b", "v3", 3)},
			[]string{"S5 b@v3 +2 =3", "S5 a@v2 +1 =2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, batched := range []bool{true, false} {
				s, r := newRecorded(t)
				if batched {
					mustNil(t, s.Finalize(5, RealRun, func() error {
						s.NotifyStakingRewards(tt.current, tt.next, 5)
						return nil
					}))
				} else {
					s.SetCanonical(true)
					s.NotifyStakingRewards(tt.current, tt.next, 5)
				}
				wantEvents(t, r, tt.want...)
			}
		})
	}
}

// Issue 18.14: outside a batch, NotifyBlock returns the error of a halt-policy plugin that
// fails on the Block (wrapped with ErrDelivery and naming the height); a log-policy plugin's
// failure is not returned; inside Finalize the failure comes back from Finalize.
func TestNotifyBlockReturnsHaltError(t *testing.T) {
	errBlock := errors.New("cannot store the block")
	tests := []struct {
		name, config string
		wantErr      bool
	}{
		{"halt", `{ error_policy: "halt" }`, true},
		{"log", `{ error_policy: "log" }`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &kindsPlugin{mask: abi.MaskOf(abi.Block), fail: abi.MaskOf(abi.Block), err: errBlock}
			s, _ := newPluginStore(t, p, tt.config)

			err := s.NotifyBlock(b("blk"), 9)
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("NotifyBlock = %v, want an error: %v", err, tt.wantErr)
			}
			if tt.wantErr && (!errors.Is(err, ErrDelivery) || !errors.Is(err, host.ErrHalted) ||
				!strings.Contains(err.Error(), "block 9")) {
				t.Fatalf("NotifyBlock = %v: want ErrDelivery and host.ErrHalted, naming block 9", err)
			}

			// The documented wiring: NotifyBlock inside Finalize; the failure is Finalize's.
			err = s.Finalize(10, RealRun, func() error { return s.NotifyBlock(b("blk10"), 10) })
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("Finalize = %v, want an error: %v", err, tt.wantErr)
			}
			if tt.wantErr && (!errors.Is(err, ErrDelivery) || !errors.Is(err, host.ErrHalted)) {
				t.Fatalf("Finalize = %v: want ErrDelivery and host.ErrHalted", err)
			}
			if got := evStrings(p.events()); !slices.Equal(got, []string{"B9 blk", "B10 blk10"}) {
				t.Fatalf("the plugin saw %q", got)
			}
		})
	}
}

// Issue 18.14: with the documented wiring (NotifyBlock inside Finalize's fn), an aborted
// block delivers nothing, its Block included, even when NotifyBlock ran before the failure.
func TestDocumentedWiringAbortedBlockGetsNoBlock(t *testing.T) {
	p := &kindsPlugin{mask: abi.MaskAll}
	s, _ := newPluginStore(t, p, "")
	mustNil(t, s.InitializeMapping(b("p"), b("m")))
	errReject := errors.New("block rejected")
	finalizeBlock := func(h uint32, fail bool) error { // README, "Embedding it in a Go node"
		return s.Finalize(h, RealRun, func() error {
			if err := s.UpdateKeyValue(b("p"), b("m"), b("k"), []byte{byte('0' + h)}); err != nil {
				return err
			}
			s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, []Staker{{b("s"), b("v"), 2}}, h)
			if err := s.NotifyBlock(b("blk"), h); err != nil {
				return err
			}
			if fail {
				return errReject // e.g. a check after the block's events were produced
			}
			return nil
		})
	}
	mustNil(t, finalizeBlock(1, false))
	if err := finalizeBlock(2, true); !errors.Is(err, errReject) {
		t.Fatalf("aborted block: Finalize = %v", err)
	}
	mustNil(t, finalizeBlock(2, false))
	want := []string{"U1 p/m k=1", "S1 s@v +1 =2", "B1 blk", "U2 p/m k=2", "S2 s@v +1 =2", "B2 blk"}
	if got := evStrings(p.events()); !slices.Equal(got, want) {
		t.Fatalf("the plugin saw\n  %q\nwant\n  %q", got, want)
	}
}
