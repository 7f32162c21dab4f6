package host

import (
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// A reload keeps the slot (its place in the plugin order, its counters) and replaces the
// instance in it, without a gap: from beginReload on, what is broadcast to the plugin is
// held in the slot's reload buffer (bounded by the plugin's queue_capacity, and following
// its on_full: "block" makes the broadcaster wait for the end of the reload, "drop" counts
// Undelivered.ReloadOverflow); an async queue is first drained into the old instance;
// then the old instance unloads, the new one (or, if it fails, the old config again) loads,
// and finishReload hands it the buffer, in order, before anything broadcast after.
//
// Events of kinds the new instance subscribes to but the old one did not reach it from
// the end of the reload on.

// beginReload makes deliveries go to the reload buffer (waiting for a call in progress)
// and stops the async queue, whose worker delivers what it holds to the old instance.
func (s *slot) beginReload() {
	s.mu.Lock()
	s.reloading = true
	done := make(chan struct{})
	s.reloadDone.Store(&done)
	s.mu.Unlock()
	if q := s.async.Swap(nil); q != nil {
		q.stop(s) // enqueues from now on fail, and the broadcaster delivers into the buffer
	}
}

// holdForReload keeps the subscribed events of b in the reload buffer (under s.mu). It
// returns false when the buffer is full and on_full is "block": the caller waits.
func (s *slot) holdForReload(b *batch) bool {
	cur := s.cur.Load()
	n := int(subscribed(b, cur.mask))
	if n == 0 {
		return true
	}
	if s.pendingN > 0 && s.pendingN+n > cur.cfg.QueueCapacity {
		if cur.cfg.OnFull == OnFullDrop {
			s.lose(causeReloadOverflow, uint64(n))
			return true
		}
		return false
	}
	s.pending = append(s.pending, ownedCopy(b.events(), cur.mask, n))
	s.pendingN += n
	return true
}

// finishReload puts the new instance l into the slot, clears the error-policy state,
// delivers the reload buffer to it and resumes normal delivery (starting a new async
// queue if l is async). reloaded is false when l is the old config restored after the new
// one failed (not counted in Reloads). catchUp: l catches up from the journal (from its
// resume height, which covers what the buffer holds): the buffer is dropped and the slot
// marked as catching up before deliveries resume.
func (s *slot) finishReload(l *loaded, reloaded, catchUp bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(l)
	s.disabled.Store(false)
	s.halted.Store(false)
	s.abandon.Store(false)
	s.consecutive, s.haltLogged = 0, false
	if reloaded {
		s.stats.reloads.Add(1)
	}
	if catchUp {
		s.catching.Store(true)
	} else if len(s.pending) > 0 {
		var a *cabi.Arena
		if l.inst.encoded() {
			a = cabi.NewArena()
			defer a.Free()
		}
		for _, evs := range s.pending {
			b := batch{evs: evs}
			b.count()
			if a != nil {
				b.encode(a)
			}
			// A halt error here has no broadcaster to return to: the plugin is marked failed.
			_ = s.deliverLocked(&b)
		}
	}
	s.pending, s.pendingN = nil, 0
	if l.cfg.Delivery == DeliveryAsync {
		s.async.Store(newAsyncQueue(s, l))
	}
	s.endReload()
}

// abortReload ends a reload after which the plugin could not be loaded at all: the slot
// is closed and what the buffer held is lost with it.
func (s *slot) abortReload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
	s.pending, s.pendingN = nil, 0
	s.endReload()
}

// endReload (under s.mu) lets deliveries through again and wakes who waits for it.
func (s *slot) endReload() {
	s.reloading = false
	close(*s.reloadDone.Swap(nil))
	s.reloadCond.Broadcast()
}
