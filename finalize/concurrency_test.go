package finalize

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Item 8: getters are safe while one goroutine finalizes (run with -race). Readers never
// see a torn value, and after the last block they see its state.
func TestConcurrentReadersWhileFinalizing(t *testing.T) {
	s, r := newRecorded(t)
	p, m := b("p"), b("m")
	const blocks = 200
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for !done.Load() {
				v, ok, err := s.GetValue(p, m, b("counter"))
				if err != nil {
					t.Error(err)
					return
				}
				if ok && len(v) != 8 {
					t.Errorf("reader %d: torn value %q", i, v)
					return
				}
				if _, err := s.Entries(p, m); err != nil {
					t.Error(err)
					return
				}
				_, _ = s.MappingNames(p)
				_, _ = s.ContainsKey(p, m, b("counter"))
				_ = s.IsAtomicInProgress()
				_ = s.CurrentBlockHeight()
				_ = s.FinalizeMode()
			}
		})
	}
	buf := make([]byte, 8) // reused for every write
	for h := uint32(1); h <= blocks; h++ {
		err := s.Finalize(h, RealRun, func() error {
			copy(buf, fmt.Sprintf("%08d", h))
			if err := s.UpdateKeyValue(p, m, b("counter"), buf); err != nil {
				return err
			}
			if err := s.AtomicCheckpoint(); err != nil {
				return err
			}
			if err := s.UpdateKeyValue(p, m, b("tmp"), buf); err != nil {
				return err
			}
			if h%2 == 0 {
				return s.AtomicRewind()
			}
			return nil
		})
		mustNil(t, err)
		s.NotifyBlock(buf, h)
	}
	done.Store(true)
	wg.Wait()
	if v, _, _ := s.GetValue(p, m, b("counter")); string(v) != fmt.Sprintf("%08d", blocks) {
		t.Errorf("final value %q", v)
	}
	// Every block delivered: 1 or 2 mapping events, then the block.
	if want := blocks*2 + blocks/2; len(r.Events()) != want {
		t.Errorf("%d events, want %d", len(r.Events()), want)
	}
}
