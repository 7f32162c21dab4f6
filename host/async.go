package host

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

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
	log      zerolog.Logger
	// drainTimeout bounds stop's wait for the worker.
	drainTimeout time.Duration
	closed       bool          // no more enqueues; the worker drains and exits
	enqueued     uint64        // batches queued so far
	handled      uint64        // batches the worker has taken and delivered (or dropped) so far
	progress     chan struct{} // closed when handled grows, if a Flush waits (then renewed)
	discard      bool          // drain timed out: the worker drops what is left
	done         chan struct{}

	dropWarnAt time.Time
	dropSince  uint64
}

func newAsyncQueue(s *slot, l *loaded) *asyncQueue {
	q := &asyncQueue{capacity: l.cfg.QueueCapacity, onFull: l.cfg.OnFull, drainTimeout: l.cfg.DrainTimeout, log: l.log, done: make(chan struct{})}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	go q.run(s)
	return q
}

// enqueue copies the events of subscribed kinds and queues them. With on_full "block" it
// waits for room; with "drop" it drops the batch (counted as QueueFull) when it does not
// fit. A disabled or failed plugin's events are counted and not queued (its worker would
// only drain them into nothing). It returns false, having done nothing, when the queue is
// closed (a reload or unload has begun): the caller delivers through the slot instead.
func (q *asyncQueue) enqueue(s *slot, mask abi.EventMask, evs []abi.Event) bool {
	n := 0
	for i := range evs {
		if mask.Has(evs[i].Kind) {
			n++
		}
	}
	if n == 0 {
		return true
	}
	switch {
	case s.disabled.Load():
		s.lose(causeDisabled, uint64(n))
		return true
	case s.halted.Load():
		s.lose(causeFailed, uint64(n))
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.queued > 0 && q.queued+n > q.capacity {
		if q.onFull == OnFullDrop {
			s.lose(causeQueueFull, uint64(n))
			q.warnDropped(uint64(n))
			return true
		}
		q.notFull.Wait()
	}
	if q.closed {
		return false
	}
	q.batches = append(q.batches, ownedCopy(evs, mask, n))
	q.queued += n
	q.enqueued++
	q.notEmpty.Signal()
	return true
}

// warnDropped logs drops at most once per second (called under q.mu); stop logs the
// drops since the last line.
func (q *asyncQueue) warnDropped(n uint64) {
	q.dropSince += n
	if now := time.Now(); now.Sub(q.dropWarnAt) >= time.Second {
		q.log.Warn().Uint64("dropped", q.dropSince).Int("queue_capacity", q.capacity).
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
		if s.cur.Load().inst.encoded() {
			b.encode(a)
		}
		// A halt-policy error cannot reach the node from here (the broadcast returned long
		// ago): the slot is marked failed, which the admin API's health check reports, and
		// gets nothing more (counted as Undelivered.Failed, logged once).
		_ = s.deliver(&b, true)

		q.mu.Lock()
		q.queued -= len(evs)
		q.handled += uint64(taken)
		if q.progress != nil {
			close(q.progress)
			q.progress = nil
		}
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
	defer q.logDropped()
	select {
	case <-q.done:
		return
	case <-time.After(q.drainTimeout):
	}
	q.mu.Lock()
	q.discard = true
	q.mu.Unlock()
	s.abandon.Store(true) // per-event delivery stops after the call in progress
	<-q.done
	left := q.depth()
	s.lose(causeDrainTimeout, uint64(left))
	q.log.Warn().Int("events_left", left).Dur("drain_timeout", q.drainTimeout).
		Msg("async queue not drained in time; dropped what was left after the call in progress")
}

// logDropped logs the drops that warnDropped's rate limit has not reported yet.
func (q *asyncQueue) logDropped() {
	q.mu.Lock()
	n := q.dropSince
	q.dropSince = 0
	q.mu.Unlock()
	if n > 0 {
		q.log.Warn().Uint64("dropped", n).Int("queue_capacity", q.capacity).
			Msg("async queue full (on_full drop): events dropped since the last line")
	}
}

// flush waits until the worker has handled every batch queued before the call, or the
// worker has stopped, or ctx is done.
func (q *asyncQueue) flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.enqueued
	for q.handled < target {
		if q.progress == nil {
			q.progress = make(chan struct{})
		}
		ch := q.progress
		q.mu.Unlock()
		select {
		case <-ch:
		case <-q.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}
