package finalize

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/host"
)

// newRecorded returns a store with the mappings p/m and p/n and a recorder installed.
func newRecorded(t *testing.T, kinds ...abi.EventKind) (*Store, *recorder) {
	t.Helper()
	s := NewStore()
	mustNil(t, s.InitializeMapping(b("p"), b("m")))
	mustNil(t, s.InitializeMapping(b("p"), b("n")))
	r := newRecorder(kinds...)
	if !s.setBroadcaster(r) {
		t.Fatal("setBroadcaster refused")
	}
	return s, r
}

func wantEvents(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	got := evStrings(r.Events())
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Item 3: one event for every change, with the right fields (canonical writes outside a
// batch, so each is delivered at once).
func TestEventsPerOperation(t *testing.T) {
	tests := []struct {
		name string
		op   func(s *Store) error
		want []string
	}{
		{"insert", func(s *Store) error { return s.InsertKeyValue(b("p"), b("m"), b("k"), b("v")) }, []string{"U7 p/m k=v"}},
		{"update", func(s *Store) error { return s.UpdateKeyValue(b("p"), b("m"), b("a"), b("2")) }, []string{"U7 p/m a=2"}},
		{"remove key", func(s *Store) error { return s.RemoveKeyValue(b("p"), b("m"), b("a")) }, []string{"R7 p/m a"}},
		{"remove absent key", func(s *Store) error { return s.RemoveKeyValue(b("p"), b("m"), b("zz")) }, nil},
		{"remove mapping", func(s *Store) error { return s.RemoveMapping(b("p"), b("m")) }, []string{"R7 p/m *"}},
		{"initialize mapping", func(s *Store) error { return s.InitializeMapping(b("p"), b("o")) }, nil},
		{"failed insert", func(s *Store) error { _ = s.InsertKeyValue(b("p"), b("m"), b("a"), b("x")); return nil }, nil},
		{"failed update", func(s *Store) error { _ = s.UpdateKeyValue(b("p"), b("x"), b("a"), b("x")); return nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newRecorded(t)
			mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1"))) // not canonical: silent
			s.SetCanonical(true)
			s.SetCurrentBlockHeight(7)
			mustNil(t, tt.op(s))
			wantEvents(t, r, tt.want...)
			for _, c := range r.Calls() {
				if len(c.events) != 1 || c.batch {
					t.Errorf("a single write was delivered as %+v", c)
				}
			}
		})
	}
}

// Item 3: RemoveProgram gives one keyless removal per mapping.
func TestRemoveProgramOneRemovalPerMapping(t *testing.T) {
	for _, batched := range []bool{false, true} {
		s, r := newRecorded(t)
		mustNil(t, s.InitializeMapping(b("p"), b("a")))
		mustNil(t, s.UpdateKeyValue(b("p"), b("a"), b("k"), b("v")))
		mustNil(t, s.InitializeMapping(b("q"), b("m")))
		err := s.Finalize(3, RealRun, func() error { return s.RemoveProgram(b("p")) })
		if !batched {
			s.SetCanonical(true)
			s.SetCurrentBlockHeight(3)
			mustNil(t, s.InitializeMapping(b("p"), b("a")))
			mustNil(t, s.InitializeMapping(b("p"), b("m")))
			mustNil(t, s.InitializeMapping(b("p"), b("n")))
			r.Reset()
			err = s.RemoveProgram(b("p"))
		}
		mustNil(t, err)
		wantEvents(t, r, "R3 p/a *", "R3 p/m *", "R3 p/n *")
		if len(r.Calls()) != 1 {
			t.Errorf("batched=%v: %d calls, want 1", batched, len(r.Calls()))
		}
	}
}

// Item 3 (issue 12.1): ReplaceMapping gives a removal per dropped old key, then one update
// per new entry, in order; more cases in TestReplaceMappingRemovesDroppedKeys.
func TestReplaceMappingRemovalThenOneUpdatePerEntry(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("old"), b("1")))
	entries := []Entry{{b("z"), b("1")}, {b("a"), b("2")}, {b("z"), b("3")}}
	mustNil(t, s.Finalize(4, RealRun, func() error { return s.ReplaceMapping(b("p"), b("m"), entries) }))
	wantEvents(t, r, "R4 p/m old", "U4 p/m z=1", "U4 p/m a=2", "U4 p/m z=3")

	r.Reset()
	s.SetCanonical(true)
	mustNil(t, s.ReplaceMapping(b("p"), b("n"), entries[:2]))
	wantEvents(t, r, "U4 p/n z=1", "U4 p/n a=2")
	r.Reset()
	mustNil(t, s.ReplaceMapping(b("p"), b("n"), nil))
	wantEvents(t, r, "R4 p/n a", "R4 p/n z")
}

// st is a staker entry of the staking reward tests.
func st(addr, val string, stake uint64) Staker { return Staker{b(addr), b(val), stake} }

// rewardCase is one NotifyStakingRewards case: the sets and the events they give.
type rewardCase struct {
	name          string
	current, next []Staker
	want          []string
}

// Item 3: staking rewards.
func TestStakingRewards(t *testing.T) {
	many := func(n int, delta uint64) []Staker {
		out := make([]Staker, n)
		for i := range out {
			out[i] = st(string(rune('A'+i)), "v", 100+delta)
		}
		return out
	}
	tests := []rewardCase{
		{"reward", []Staker{st("a", "v1", 100)}, []Staker{st("a", "v1", 130)}, []string{"S5 a@v1 +30 =130"}},
		{"stake shrank: saturating", []Staker{st("a", "v1", 100)}, []Staker{st("a", "v1", 40)}, []string{"S5 a@v1 +0 =40"}},
		{"unchanged", []Staker{st("a", "v1", 100)}, []Staker{st("a", "v1", 100)}, []string{"S5 a@v1 +0 =100"}},
		{"missing from next", []Staker{st("a", "v1", 100), st("b", "v2", 50)}, []Staker{st("a", "v1", 101)},
			[]string{"S5 a@v1 +1 =101", "S5 b@v2 +0 =50"}},
		{"only in next: no event", []Staker{st("a", "v1", 1)}, []Staker{st("new", "v1", 9), st("a", "v1", 2)}, []string{"S5 a@v1 +1 =2"}},
		{"max values", []Staker{st("a", "v", 0)}, []Staker{st("a", "v", ^uint64(0))}, []string{"S5 a@v +18446744073709551615 =18446744073709551615"}},
		{"empty current", nil, []Staker{st("a", "v", 1)}, nil},
		{"large sets, a staker twice in next: the first entry wins", many(20, 0)[:1], append(append(many(20, 0)[1:], st("A", "w", 150)), many(20, 0)...),
			[]string{"S5 A@w +50 =150"}},
		{"large sets", many(20, 0), many(20, 5), func() []string {
			var w []string
			for i := range 20 {
				w = append(w, "S5 "+string(rune('A'+i))+"@v +5 =105")
			}
			return w
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newRecorded(t)
			mustNil(t, s.Finalize(5, RealRun, func() error {
				s.NotifyStakingRewards(tt.current, tt.next, 5)
				return nil
			}))
			wantEvents(t, r, tt.want...)
		})
	}
}

// Item 4: commit-aligned: nothing reaches the plugins before FinishAtomic, then everything
// in one BroadcastBatch call, in write order.
func TestDeliveryCommitAligned(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.Finalize(8, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		mustNil(t, s.UpdateKeyValue(b("p"), b("n"), b("b"), b("2")))
		mustNil(t, s.RemoveKeyValue(b("p"), b("m"), b("a")))
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("c"), b("3")))
		if n := len(r.Calls()); n != 0 {
			t.Errorf("%d deliveries inside the batch", n)
		}
		return nil
	}))
	calls := r.Calls()
	if len(calls) != 1 || !calls[0].batch {
		t.Fatalf("calls = %+v, want one BroadcastBatch", calls)
	}
	wantEvents(t, r, "U8 p/m a=1", "U8 p/n b=2", "R8 p/m a", "U8 p/m c=3")

	// Low-level batches are commit-aligned too.
	r.Reset()
	s.SetCanonical(true)
	mustNil(t, s.StartAtomic())
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("x"), b("1")))
	if len(r.Calls()) != 0 {
		t.Fatal("delivered before FinishAtomic")
	}
	mustNil(t, s.FinishAtomic())
	wantEvents(t, r, "U8 p/m x=1")
}

// Item 4: a rewind drops the events written after the checkpoint, and only those.
func TestDeliveryRewindDropsEventsAfterCheckpoint(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.Finalize(2, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("kept"), b("1")))
		mustNil(t, s.AtomicCheckpoint())
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("dropped"), b("2")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 2) // dropped as well
		mustNil(t, s.RemoveMapping(b("p"), b("n")))
		mustNil(t, s.AtomicRewind())
		mustNil(t, s.AtomicCheckpoint())
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("after"), b("3")))
		mustNil(t, s.ClearLatestCheckpoint())
		mustNil(t, s.AtomicCheckpoint())
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("dropped2"), b("4")))
		mustNil(t, s.AtomicRewind())
		return nil
	}))
	wantEvents(t, r, "U2 p/m kept=1", "U2 p/m after=3")
	if ok, _ := s.ContainsMapping(b("p"), b("n")); !ok {
		t.Error("rewound RemoveMapping stayed")
	}
}

// Item 4: an abort drops every event of the batch.
func TestDeliveryAbortDropsAll(t *testing.T) {
	s, r := newRecorded(t)
	errTx := errors.New("bad block")
	err := s.Finalize(2, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 2)
		s.NotifyBlock(b("blk"), 2)
		return errTx
	})
	if !errors.Is(err, errTx) {
		t.Fatal(err)
	}
	wantEvents(t, r)

	s.SetCanonical(true)
	mustNil(t, s.StartAtomic())
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
	mustNil(t, s.AbortAtomic())
	wantEvents(t, r)

	// The next batch delivers only its own events.
	mustNil(t, s.Finalize(3, RealRun, func() error { return s.UpdateKeyValue(b("p"), b("m"), b("b"), b("2")) }))
	wantEvents(t, r, "U3 p/m b=2")
}

// Items 4 and 6: a dry run, and speculation outside a canonical finalization, produce nothing.
func TestDeliveryDryRunProducesNothing(t *testing.T) {
	s, r := newRecorded(t)
	before := dump(t, s)
	mustNil(t, s.Finalize(2, DryRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		mustNil(t, s.RemoveProgram(b("p")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 2)
		s.NotifyBlock(b("blk"), 2)
		return nil
	}))
	// Speculation with the low-level API: a batch without the canonical flag, finished.
	mustNil(t, s.StartAtomic())
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("spec"), b("1")))
	s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 2)
	mustNil(t, s.FinishAtomic())
	// Canonical flag with DryRun mode: still nothing.
	s.SetCanonical(true)
	s.SetFinalizeMode(DryRun)
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("spec2"), b("1")))
	s.NotifyBlock(b("blk"), 2)
	wantEvents(t, r)
	s.SetFinalizeMode(RealRun)
	s.SetCanonical(false)
	mustNil(t, s.RemoveKeyValue(b("p"), b("m"), b("spec")))
	mustNil(t, s.RemoveKeyValue(b("p"), b("m"), b("spec2")))
	if got := dump(t, s); got != before {
		t.Fatalf("dry run changed the state:\n%s", got)
	}
	wantEvents(t, r)
}

// Item 4: a canonical write outside a batch is delivered right after the write.
func TestDeliveryOutsideBatch(t *testing.T) {
	s, r := newRecorded(t)
	s.SetCanonical(true)
	s.SetCurrentBlockHeight(6)
	var seen []int
	r.onCall = func() {
		v, _, _ := s.GetValue(b("p"), b("m"), b("a")) // the write is visible, no lock held
		seen = append(seen, len(v))
	}
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
	wantEvents(t, r, "U6 p/m a=1")
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("22")))
	wantEvents(t, r, "U6 p/m a=1", "U6 p/m a=22")
	if !slices.Equal(seen, []int{1, 2}) {
		t.Errorf("values seen by the plugin during delivery: %v", seen)
	}
	s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, []Staker{{b("s"), b("v"), 3}}, 6)
	if n := len(r.Events()); n != 3 {
		t.Fatalf("%d events after staking outside a batch", n)
	}
	// Not canonical: silent; except the Block event, which needs no canonical finalization.
	s.SetCanonical(false)
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("3")))
	s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 6)
	s.NotifyBlock(b("blk"), 6)
	wantEvents(t, r, "U6 p/m a=1", "U6 p/m a=22", "S6 s@v +2 =3", "B6 blk")
}

// Item 4: within a block, mapping events, then staking rewards, then the block, whatever
// the order of the calls inside Finalize; the usual NotifyBlock after Finalize comes last too.
func TestDeliveryOrderWithinBlock(t *testing.T) {
	s, r := newRecorded(t)
	mustNil(t, s.Finalize(1, RealRun, func() error {
		s.NotifyBlock(b("blk1"), 1)
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, []Staker{{b("s"), b("v"), 2}}, 1)
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		s.NotifyStakingRewards([]Staker{{b("t"), b("v"), 1}}, nil, 1)
		mustNil(t, s.RemoveKeyValue(b("p"), b("m"), b("a")))
		return nil
	}))
	wantEvents(t, r, "U1 p/m a=1", "R1 p/m a", "S1 s@v +1 =2", "S1 t@v +0 =1", "B1 blk1")
	if n := len(r.Calls()); n != 1 {
		t.Errorf("%d calls for one block, want 1", n)
	}

	r.Reset()
	mustNil(t, s.Finalize(2, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("b"), b("2")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 2}}, []Staker{{b("s"), b("v"), 5}}, 2)
		return nil
	}))
	s.NotifyBlock(b("blk2"), 2)
	wantEvents(t, r, "U2 p/m b=2", "S2 s@v +3 =5", "B2 blk2")
}

// Item 4: SetSlipstream(false) silences everything, including events a batch already holds.
func TestDeliverySetSlipstreamFalse(t *testing.T) {
	s, r := newRecorded(t)
	s.SetSlipstream(false)
	mustNil(t, s.Finalize(1, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 1)
		return nil
	}))
	s.NotifyBlock(b("blk"), 1)
	s.SetCanonical(true)
	mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("2")))
	wantEvents(t, r)

	s.SetSlipstream(true)
	mustNil(t, s.Finalize(2, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("held"), b("1")))
		s.SetSlipstream(false)
		return nil
	}))
	wantEvents(t, r)
	if v, _, _ := s.GetValue(b("p"), b("m"), b("held")); string(v) != "1" {
		t.Error("state must not depend on SetSlipstream")
	}
}

// Item 4: the first plugin manager wins; a later one (or nil) is ignored with a warning.
func TestFirstManagerWins(t *testing.T) {
	var logs bytes.Buffer
	s := NewStore(WithLogger(zerolog.New(&logs)))
	if s.PluginManager() != nil {
		t.Fatal("manager before any call")
	}
	var nilMgr *host.Manager
	s.SetSlipstreamPluginManager(nilMgr) // a nil manager neither installs nor takes the slot
	m1, m2 := host.NewManager(), host.NewManager()
	s.SetSlipstreamPluginManager(m1)
	s.SetSlipstreamPluginManager(m2)
	if s.PluginManager() != m1 {
		t.Fatal("the first manager was replaced")
	}
	if n := strings.Count(logs.String(), `"level":"warn"`); n != 2 {
		t.Errorf("%d warnings, want 2 (nil, second manager):\n%s", n, logs.String())
	}
	if s.setBroadcaster(newRecorder()) {
		t.Error("a recorder replaced the manager")
	}

	// With fakes: events go to the first only.
	s2, r1 := newRecorded(t)
	r2 := newRecorder()
	s2.SetSlipstreamPluginManager(host.NewManager())
	if s2.setBroadcaster(r2) {
		t.Fatal("second broadcaster accepted")
	}
	mustNil(t, s2.Finalize(1, RealRun, func() error { return s2.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")) }))
	wantEvents(t, r1, "U1 p/m a=1")
	wantEvents(t, r2)
}

// Item 5: a kind nobody subscribes to is neither built nor held nor delivered.
func TestDeliveryOnlySubscribedKinds(t *testing.T) {
	s, r := newRecorded(t, abi.Block)
	mustNil(t, s.Finalize(1, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		s.NotifyStakingRewards([]Staker{{b("s"), b("v"), 1}}, nil, 1)
		if s.held != nil && s.held.len() > 0 {
			t.Error("unsubscribed events were held")
		}
		return nil
	}))
	s.NotifyBlock(b("blk"), 1)
	wantEvents(t, r, "B1 blk")

	s3, r3 := newRecorded(t, abi.MappingRemoval)
	mustNil(t, s3.Finalize(1, RealRun, func() error {
		mustNil(t, s3.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")))
		return s3.RemoveKeyValue(b("p"), b("m"), b("a"))
	}))
	wantEvents(t, r3, "R1 p/m a")
}

// Item 5: no manager, or a manager nobody subscribes to: UpdateKeyValue allocates exactly
// what the state write allocates.
func TestFreeWhenUnused(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counting")
	}
	p, m, k, v := b("p"), b("m"), b("key"), b("value")
	run := func(s *Store) float64 {
		mustNil(t, s.InitializeMapping(p, m))
		s.SetCanonical(true)
		mustNil(t, s.UpdateKeyValue(p, m, k, v))
		return testing.AllocsPerRun(1000, func() { _ = s.UpdateKeyValue(p, m, k, v) })
	}
	none := run(NewStore())
	withMgr := NewStore()
	withMgr.SetSlipstreamPluginManager(host.NewManager())
	unused := run(withMgr)
	withFake := NewStore()
	withFake.setBroadcaster(newRecorder(abi.Block)) // subscribed, but not to MappingUpdate
	unusedKind := run(withFake)
	if none != 1 || unused != none || unusedKind != none {
		t.Errorf("allocs/op: no manager %v, unsubscribed manager %v, other kind subscribed %v; want 1 each", none, unused, unusedKind)
	}
	// Inside a batch, once the undo log has grown: still only the state write.
	s := NewStore()
	s.setBroadcaster(newRecorder(abi.Block))
	mustNil(t, s.InitializeMapping(p, m))
	s.SetCanonical(true)
	mustNil(t, s.StartAtomic())
	for range 2000 {
		_ = s.UpdateKeyValue(p, m, k, v)
	}
	mustNil(t, s.FinishAtomic())
	mustNil(t, s.StartAtomic())
	if a := testing.AllocsPerRun(1000, func() { _ = s.UpdateKeyValue(p, m, k, v) }); a != 1 {
		t.Errorf("allocs/op in a batch: %v, want 1", a)
	}
	mustNil(t, s.AbortAtomic())
	// NotifyBlock and NotifyStakingRewards with nobody subscribed: nothing at all.
	s = NewStore()
	s.setBroadcaster(newRecorder(abi.MappingUpdate))
	s.SetCanonical(true)
	blk, stakers := b("blk"), []Staker{{b("s"), b("v"), 1}}
	if a := testing.AllocsPerRun(100, func() {
		s.NotifyBlock(blk, 1)
		s.NotifyStakingRewards(stakers, nil, 1)
	}); a != 0 {
		t.Errorf("allocs for unsubscribed notifications: %v", a)
	}
}

// Held events are copies: callers may reuse their buffers during the batch.
func TestHeldEventsCopyBytes(t *testing.T) {
	s, r := newRecorded(t)
	p, m, k, v := b("p"), b("m"), b("k1"), b("v1")
	blk := b("block-1")
	stakers := []Staker{{b("s1"), b("val1"), 1}}
	mustNil(t, s.Finalize(1, RealRun, func() error {
		mustNil(t, s.UpdateKeyValue(p, m, k, v))
		copy(k, "k2")
		copy(v, "v2")
		mustNil(t, s.UpdateKeyValue(p, m, k, v))
		copy(k, "XX")
		copy(v, "XX")
		copy(p, "X")
		s.NotifyStakingRewards(stakers, nil, 1)
		copy(stakers[0].Address, "XX")
		copy(stakers[0].Validator, "XXXX")
		s.NotifyBlock(blk, 1)
		copy(blk, "XXXXXXX")
		return nil
	}))
	wantEvents(t, r, "U1 p/m k1=v1", "U1 p/m k2=v2", "S1 s1@val1 +0 =1", "B1 block-1")
}

// Items 4 and 5: a halting plugin's error comes back from Finalize (wrapped with
// ErrDelivery); the block stays committed.
func TestDeliveryErrorReturned(t *testing.T) {
	s, r := newRecorded(t)
	errHalt := errors.New("plugin history: halt")
	r.err = errHalt
	err := s.Finalize(1, RealRun, func() error { return s.UpdateKeyValue(b("p"), b("m"), b("a"), b("1")) })
	if !errors.Is(err, ErrDelivery) || !errors.Is(err, errHalt) {
		t.Fatalf("Finalize = %v", err)
	}
	if v, _, _ := s.GetValue(b("p"), b("m"), b("a")); string(v) != "1" {
		t.Error("block not committed")
	}
	s.SetCanonical(true)
	if err := s.RemoveKeyValue(b("p"), b("m"), b("a")); !errors.Is(err, errHalt) {
		t.Fatalf("RemoveKeyValue = %v", err)
	}
	if ok, _ := s.ContainsKey(b("p"), b("m"), b("a")); ok {
		t.Error("write not applied")
	}
}
