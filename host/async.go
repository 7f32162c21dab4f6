package host

import (
	"sync"
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// maxRound bounds the events an async worker hands to the plugin in one round.
const maxRound = 4096

// asyncQueue is the bounded event queue and worker of a plugin with delivery "async".
//
// Broadcast copies the events the plugin subscribed to into a batch that owns its bytes
// (the node may reuse its buffers as soon as Broadcast returns) and appends it; the worker
// takes every queued batch at once, encodes them into its own arena and calls the plugin,
// so that order is kept and a slow plugin gets fewer, larger batches.
type asyncQueue struct {
	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	batches  [][]abi.Event
	queued   int // events in batches
	capacity int
	onFull   OnFull
	closed   bool // no more enqueues; the worker drains and exits
	discard  bool // drain timed out: the worker drops what is left
	done     chan struct{}

	dropWarnAt time.Time
	dropSince  uint64
}

func newAsyncQueue(s *slot) *asyncQueue {
	q := &asyncQueue{capacity: s.cfg.QueueCapacity, onFull: s.cfg.OnFull, done: make(chan struct{})}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	go q.run(s)
	return q
}

// enqueue copies the events of subscribed kinds and queues them. With on_full "block" it
// waits for room; with "drop" it drops the batch (counted) when it does not fit.
func (q *asyncQueue) enqueue(s *slot, evs []abi.Event) {
	n := 0
	for i := range evs {
		if s.mask.Has(evs[i].Kind) {
			n++
		}
	}
	if n == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.queued > 0 && q.queued+n > q.capacity {
		if q.onFull == OnFullDrop {
			s.stats.dropped.Add(uint64(n))
			q.warnDropped(s, uint64(n))
			return
		}
		q.notFull.Wait()
	}
	if q.closed {
		return
	}
	q.batches = append(q.batches, ownedCopy(evs, s.mask, n))
	q.queued += n
	q.notEmpty.Signal()
}

// warnDropped logs drops at most once per second (called under q.mu).
func (q *asyncQueue) warnDropped(s *slot, n uint64) {
	q.dropSince += n
	if now := time.Now(); now.Sub(q.dropWarnAt) >= time.Second {
		s.log.Warn().Uint64("dropped", q.dropSince).Int("queue_capacity", q.capacity).
			Msg("async queue full (on_full drop): events dropped; the plugin is slower than finalization")
		q.dropWarnAt, q.dropSince = now, 0
	}
}

// ownedCopy copies the n events of evs whose kind is in mask, with all their bytes in one
// allocation.
func ownedCopy(evs []abi.Event, mask abi.EventMask, n int) []abi.Event {
	size := 0
	for i := range evs {
		if mask.Has(evs[i].Kind) {
			size += evs[i].Size()
		}
	}
	buf := make([]byte, 0, size)
	take := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	out := make([]abi.Event, 0, n)
	for i := range evs {
		e := &evs[i]
		if !mask.Has(e.Kind) {
			continue
		}
		c := *e
		c.ProgramID, c.MappingName, c.Key, c.Value = take(e.ProgramID), take(e.MappingName), take(e.Key), take(e.Value)
		c.Staker, c.Validator, c.Block = take(e.Staker), take(e.Validator), take(e.Block)
		out = append(out, c)
	}
	return out
}

func (q *asyncQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued
}

// run is the worker: it delivers queued batches in order until the queue is closed and
// empty.
func (q *asyncQueue) run(s *slot) {
	defer close(q.done)
	a := cabi.NewArena()
	defer a.Free()
	var evs []abi.Event
	var b batch
	for {
		q.mu.Lock()
		for len(q.batches) == 0 && !q.closed {
			q.notEmpty.Wait()
		}
		if len(q.batches) == 0 || q.discard {
			q.mu.Unlock()
			return
		}
		// Take queued batches up to maxRound events (at least one batch): a slow plugin gets
		// larger batches, yet a drain timeout can still stop it between rounds.
		n, taken := 0, 0
		for taken < len(q.batches) && (taken == 0 || n+len(q.batches[taken]) <= maxRound) {
			n += len(q.batches[taken])
			taken++
		}
		batches := q.batches[:taken:taken]
		q.batches = q.batches[taken:]
		q.mu.Unlock()

		evs = evs[:0]
		for _, b := range batches {
			evs = append(evs, b...)
		}
		b = batch{evs: evs}
		b.count()
		if s.native != nil {
			b.encode(a)
		}
		// A halt-policy error cannot reach the node from here (the broadcast returned long
		// ago): the slot is marked failed, which the admin API's health check reports.
		_ = s.deliver(&b)

		q.mu.Lock()
		q.queued -= len(evs)
		q.notFull.Broadcast()
		q.mu.Unlock()
		clear(evs)
	}
}

// stop closes the queue and waits for the worker to deliver what is queued, at most the
// plugin's drain_timeout; after that the rest is dropped (and logged) once the call in
// progress returns.
func (q *asyncQueue) stop(s *slot) {
	q.mu.Lock()
	q.closed = true
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
	q.mu.Unlock()
	select {
	case <-q.done:
		return
	case <-time.After(s.cfg.DrainTimeout):
	}
	q.mu.Lock()
	q.discard = true
	q.mu.Unlock()
	s.abandon.Store(true) // per-event delivery stops after the call in progress
	<-q.done
	left := q.depth()
	s.stats.dropped.Add(uint64(left))
	s.log.Warn().Int("events_left", left).Dur("drain_timeout", s.cfg.DrainTimeout).
		Msg("async queue not drained in time; dropped what was left after the call in progress")
}
