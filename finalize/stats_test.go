package finalize

import (
	"errors"
	"sync"
	"testing"
)

// TestStats checks each counter of Store.Stats against the operations that move it, and
// that EventsProduced equals what the plugin manager received.
func TestStats(t *testing.T) {
	errBlock := errors.New("block fails")
	stakers := []Staker{{Address: b("s1"), Validator: b("v"), Stake: 10}, {Address: b("s2"), Validator: b("v"), Stake: 5}}
	// block writes two mapping events, two staking rewards and the block inside a batch.
	block := func(s *Store) error {
		if ok, _ := s.ContainsMapping(b("p.aleo"), b("m")); !ok {
			if err := s.InitializeMapping(b("p.aleo"), b("m")); err != nil {
				return err
			}
		}
		if err := s.UpdateKeyValue(b("p.aleo"), b("m"), b("k1"), b("v1")); err != nil {
			return err
		}
		if err := s.UpdateKeyValue(b("p.aleo"), b("m"), b("k2"), b("v2")); err != nil {
			return err
		}
		s.NotifyStakingRewards(stakers, stakers, 7)
		s.NotifyBlock(b("block"), 7)
		return nil
	}
	tests := []struct {
		name      string
		noManager bool
		run       func(t *testing.T, s *Store)
		want      Stats
	}{
		{name: "committed block", want: Stats{BlocksFinalized: 1, EventsProduced: 5},
			run: func(t *testing.T, s *Store) {
				mustNil(t, s.Finalize(7, RealRun, func() error { return block(s) }))
			}},
		{name: "two blocks and a block event after each", want: Stats{BlocksFinalized: 2, EventsProduced: 12},
			run: func(t *testing.T, s *Store) {
				for h := uint32(1); h <= 2; h++ {
					mustNil(t, s.Finalize(h, RealRun, func() error { return block(s) }))
					s.NotifyBlock(b("after"), h)
				}
			}},
		{name: "failing block is aborted", want: Stats{AbortedBatches: 1},
			run: func(t *testing.T, s *Store) {
				err := s.Finalize(7, RealRun, func() error { _ = block(s); return errBlock })
				if !errors.Is(err, errBlock) {
					t.Fatalf("Finalize: %v", err)
				}
			}},
		{name: "panicking block is aborted", want: Stats{AbortedBatches: 1},
			run: func(t *testing.T, s *Store) {
				defer func() {
					if recover() == nil {
						t.Error("no panic")
					}
				}()
				_ = s.Finalize(7, RealRun, func() error { _ = block(s); panic("boom") })
			}},
		{name: "dry run is aborted", want: Stats{AbortedBatches: 1},
			run: func(t *testing.T, s *Store) {
				mustNil(t, s.Finalize(7, DryRun, func() error { return block(s) }))
			}},
		{name: "explicit abort", want: Stats{AbortedBatches: 1},
			run: func(t *testing.T, s *Store) {
				s.SetCanonical(true)
				mustNil(t, s.StartAtomic())
				mustNil(t, block(s))
				mustNil(t, s.AbortAtomic())
			}},
		{name: "abort outside a batch counts nothing",
			run: func(t *testing.T, s *Store) {
				if err := s.AbortAtomic(); !errors.Is(err, ErrNotInAtomic) {
					t.Fatalf("AbortAtomic: %v", err)
				}
			}},
		{name: "finalize while a batch is in progress counts nothing",
			run: func(t *testing.T, s *Store) {
				mustNil(t, s.StartAtomic())
				if err := s.Finalize(7, RealRun, func() error { return nil }); !errors.Is(err, ErrAtomicInProgress) {
					t.Fatalf("Finalize: %v", err)
				}
				mustNil(t, s.FinishAtomic())
			}},
		{name: "rewound events are not produced", want: Stats{BlocksFinalized: 1, EventsProduced: 1},
			run: func(t *testing.T, s *Store) {
				mustNil(t, s.Finalize(7, RealRun, func() error {
					mustNil(t, s.InitializeMapping(b("p.aleo"), b("m")))
					mustNil(t, s.UpdateKeyValue(b("p.aleo"), b("m"), b("kept"), b("v")))
					mustNil(t, s.AtomicCheckpoint())
					mustNil(t, s.UpdateKeyValue(b("p.aleo"), b("m"), b("gone"), b("v")))
					return s.AtomicRewind()
				}))
			}},
		{name: "canonical writes outside a batch", want: Stats{EventsProduced: 4},
			run: func(t *testing.T, s *Store) {
				s.SetCanonical(true)
				mustNil(t, s.InitializeMapping(b("p.aleo"), b("m")))
				mustNil(t, s.UpdateKeyValue(b("p.aleo"), b("m"), b("k"), b("v")))
				mustNil(t, s.ReplaceMapping(b("p.aleo"), b("m"), []Entry{{b("a"), b("1")}, {b("b"), b("2")}}))
			}},
		{name: "slipstream off", want: Stats{BlocksFinalized: 1},
			run: func(t *testing.T, s *Store) {
				s.SetSlipstream(false)
				mustNil(t, s.Finalize(7, RealRun, func() error { return block(s) }))
			}},
		{name: "no manager", noManager: true, want: Stats{BlocksFinalized: 1, AbortedBatches: 1},
			run: func(t *testing.T, s *Store) {
				mustNil(t, s.Finalize(7, RealRun, func() error { return block(s) }))
				_ = s.Finalize(8, RealRun, func() error { return errBlock })
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore()
			rec := newRecorder()
			if !tc.noManager {
				s.setBroadcaster(rec)
			}
			tc.run(t, s)
			if got := s.Stats(); got != tc.want {
				t.Errorf("Stats() = %+v, want %+v", got, tc.want)
			}
			if got := uint64(len(rec.Events())); got != s.Stats().EventsProduced {
				t.Errorf("the manager received %d events, EventsProduced = %d", got, s.Stats().EventsProduced)
			}
		})
	}
}

// TestStatsConcurrentRead reads Stats while blocks are finalized (for -race).
func TestStatsConcurrentRead(t *testing.T) {
	s := NewStore()
	s.setBroadcaster(newRecorder())
	const blocks = 200
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for h := uint32(1); h <= blocks; h++ {
			if err := s.Finalize(h, RealRun, func() error {
				s.NotifyBlock(b("blk"), h)
				return nil
			}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var last Stats
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		st := s.Stats()
		if st.BlocksFinalized < last.BlocksFinalized || st.EventsProduced < last.EventsProduced {
			t.Fatalf("counters went back: %+v after %+v", st, last)
		}
		last = st
	}
	wg.Wait()
	if got := s.Stats(); got != (Stats{BlocksFinalized: blocks, EventsProduced: blocks}) {
		t.Errorf("Stats() = %+v", got)
	}
}
