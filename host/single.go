package host

import (
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// The single-event path of Broadcast: one event to synchronous C plugins, the node's
// call for every write outside a batch, without the batch bookkeeping of deliver
// (deliver.go). Whatever is not the plain case for a slot — a reload or catch-up in
// progress, a resume height above the event, a plugin stopped by its error policy, a
// closed slot, an instance that is not a C library — takes the general path, so that
// the rules live in one place; a failed callback is reported by the general path's code.
//
// The first C plugin gets the event encoded into its slot's own arena, under the slot's
// lock (no arena to take from the pool and give back); a second and later C plugin share
// one encoding from the pool, as a batch's plugins do.

// broadcastOne is Broadcast without a journal, for an event of a subscribed kind.
func (m *Manager) broadcastOne(ev *abi.Event) error {
	var (
		general batch // built on first need (b points at it then)
		b       *batch
		shared  *pooledArena // the pooled encoding, made on first need
		natives int
		halt    error
	)
	encoded := func() *cabi.Arena {
		if shared == nil {
			shared = m.getArena()
			shared.a.EncodeOne(ev)
		}
		return shared.a
	}
	for _, s := range *m.slots.Load() {
		cur := s.cur.Load()
		if !cur.mask.Has(ev.Kind) {
			continue
		}
		if q := s.async.Load(); q != nil && q.enqueue(s, cur.mask, unsafe.Slice(ev, 1)) {
			continue
		}
		var err error
		done := false
		if _, ok := cur.inst.(*native); ok {
			var a *cabi.Arena // nil: the slot's own
			if natives++; natives > 1 {
				a = encoded()
			}
			done, err = s.deliverOne(ev, a)
		}
		if !done {
			if b == nil {
				general = oneBatch(ev)
				b = &general
			}
			if b.arena == nil && cur.inst.encoded() {
				b.arena = encoded()
			}
			err = s.deliver(b, false)
		}
		if err != nil && halt == nil {
			halt = err
		}
	}
	if shared != nil {
		m.putArena(shared)
	}
	return halt
}

// oneBatch is the batch of the single event ev.
func oneBatch(ev *abi.Event) batch {
	b := batch{evs: unsafe.Slice(ev, 1), present: abi.Mask(ev.Kind), payload: ev.Size(),
		minHeight: ev.BlockHeight, maxHeight: ev.BlockHeight}
	if ev.Kind < abi.KindCount {
		b.counts[ev.Kind] = 1
	}
	return b
}

// deliverOne hands ev to the slot's C plugin, encoded in a (or, if a is nil, into the
// slot's own arena), when the slot is in the plain case; done is false when it is not
// and nothing happened: the caller takes the general path. err is as deliver's.
func (s *slot) deliverOne(ev *abi.Event, a *cabi.Arena) (done bool, err error) {
	// Unlocked by hand on each return, not deferred: a defer costs ~4 ns here (paired
	// BenchmarkBroadcastPaired 1.41x -> 1.45x). Nothing between can panic but a refused
	// mapping (cmem.MustAlloc), after which the process cannot go on anyway.
	s.mu.Lock()
	cur := s.cur.Load()
	n, ok := cur.inst.(*native)
	if !ok || s.closed || s.reloading || s.catching.Load() || !cur.mask.Has(ev.Kind) ||
		uint64(ev.BlockHeight) < cur.resume || s.blocked(cur) != causeNone {
		s.mu.Unlock()
		return false, nil
	}
	if a == nil {
		if s.one == nil {
			s.one = cabi.NewArena()
		}
		a = s.one
		a.EncodeOne(ev)
	}
	var rc int32
	callback := "on_broadcast_batch"
	if n.vt.OnBroadcastBatch != 0 { // the plugin's choice, as for a batch (native.deliver)
		rc = n.callUncounted(s, n.vt.OnBroadcastBatch, a.Addr(), 1, a.ErrorArg())
	} else {
		callback = "on_broadcast"
		rc = n.callUncounted(s, n.vt.OnBroadcast, a.Addr(), a.ErrorArg())
	}
	s.stats.oneByKind[ev.Kind].Add(1) // the event and the call
	if s.position.Load() != ev.BlockHeight {
		s.position.Store(ev.BlockHeight)
	}
	if rc == 0 {
		s.succeeded()
		s.mu.Unlock()
		return true, nil
	}
	s.pass = pass{}
	s.failure(callback, rc, a.ErrorMessage(), nil, abi.Mask(ev.Kind), 1)
	b := oneBatch(ev)
	err = s.report(cur, &b)
	s.mu.Unlock()
	return true, err
}
