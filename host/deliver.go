package host

import (
	"time"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// batch is one broadcast as a slot sees it: the events, their kinds, and (for C plugins)
// their encoding. A batch the store held in C memory (Manager.broadcastArena) starts with
// the encoding only: events decodes its Go view when an instance, the queue or the
// journal needs it.
type batch struct {
	evs     []abi.Event           // read through events() where the batch may be encoded only
	present abi.EventMask         // kinds present in evs
	counts  [abi.KindCount]uint32 // events per kind
	payload int                   // bytes of the events' fields (for the encoder)
	arena   *cabi.Arena           // the encoding of evs; nil if no C plugin needs it

	minHeight, maxHeight uint32 // the lowest and highest block height in evs
	seq                  uint64 // the journal record of the last events (0 without a journal)
}

// count fills present and counts, the height range, and sums the payload bytes for the
// encoder: one pass over the events.
func (b *batch) count() {
	b.present, b.counts, b.payload = 0, [abi.KindCount]uint32{}, 0
	b.minHeight, b.maxHeight = ^uint32(0), 0
	for i := range b.evs {
		e := &b.evs[i]
		b.present |= abi.Mask(e.Kind)
		if e.Kind < abi.KindCount {
			b.counts[e.Kind]++
		}
		b.payload += e.Size()
		b.minHeight = min(b.minHeight, e.BlockHeight)
		b.maxHeight = max(b.maxHeight, e.BlockHeight)
	}
}

// countEncoded is count for a batch that is only its encoding (a.Len() > 0), from the
// arena's summary.
func (b *batch) countEncoded(a *cabi.Arena) {
	sum := a.Summary() // kept as the store appended: no pass over the events
	b.arena = a
	b.present, b.counts, b.minHeight, b.maxHeight = sum.Present, sum.Counts, sum.Min, sum.Max
}

// events returns the batch's events, decoding the Go view of its encoding on first use
// (the byte slices then alias the C memory, valid for the broadcast).
func (b *batch) events() []abi.Event {
	if b.evs == nil && b.arena != nil {
		b.evs = b.arena.Events()
	}
	return b.evs
}

// belowResume returns the part of b that a plugin with resume height resume may get, and
// counts the subscribed events below it as skipped: b itself when nothing is below (the
// usual case, one comparison), nil when everything is. A batch that straddles the height
// (one BroadcastBatch over several blocks) is copied without the skipped events, encoded
// anew when the instance reads C memory; release frees that copy.
func (s *slot) belowResume(cur *loaded, b *batch) (part *batch, release func()) {
	if uint64(b.minHeight) >= cur.resume {
		return b, nil
	}
	if uint64(b.maxHeight) < cur.resume {
		s.stats.skipped.Add(subscribed(b, cur.mask))
		return nil, nil
	}
	evs := b.events()
	p := &batch{evs: make([]abi.Event, 0, len(evs))}
	var skipped uint64
	for i := range evs {
		if e := &evs[i]; uint64(e.BlockHeight) >= cur.resume {
			p.evs = append(p.evs, *e)
		} else if cur.mask.Has(e.Kind) {
			skipped++
		}
	}
	s.stats.skipped.Add(skipped)
	p.count()
	if !cur.inst.encoded() {
		return p, nil
	}
	a := cabi.NewArena()
	p.encode(a)
	return p, a.Free
}

// encode writes the events into a (for the C plugins).
func (b *batch) encode(a *cabi.Arena) {
	b.arena = a
	a.EncodeSized(b.evs, b.payload)
}

// The latency histogram times every one of a plugin's first timedFirst calls and then one
// call in sampleEvery, because reading the clock twice (~65 ns here) costs half a
// single-event delivery: at one in 64 the clock costs the path about 1 ns per call (one
// in 16: 3.5 ns more, measured), and a node making thousands of calls a second still has a
// sample every few milliseconds.
const (
	timedFirst  = 256
	sampleEvery = 64
)

// cause is why a subscribed event did not reach the plugin (the fields of Undelivered).
type cause int

const (
	causeNone cause = iota
	causeQueueFull
	causeDisabled
	causeDrainTimeout
	causeReloadOverflow
	causeFailed
	numCauses
)

// lose counts n subscribed events that the plugin does not get, by cause.
func (s *slot) lose(c cause, n uint64) {
	if n != 0 {
		s.stats.undelivered[c].Add(n)
	}
}

// subscribed returns how many events of b have a kind in mask.
func subscribed(b *batch, mask abi.EventMask) uint64 {
	var n uint64
	for k := abi.EventKind(0); k < abi.KindCount; k++ {
		if mask.Has(k) {
			n += uint64(b.counts[k])
		}
	}
	return n
}

// pass is the bookkeeping of the delivery in progress (under s.mu): what reached the
// plugin, why the rest did not, and the failures to report once the batch is done.
type pass struct {
	delivered [abi.KindCount]uint32
	stop      cause         // set when the instance stopped before the end of the batch
	failed    int           // events whose callback failed
	kinds     abi.EventMask // their kinds
	tripped   bool          // error_policy disable tripped during this pass
}

// firstFailure is the first failed callback of a pass.
type firstFailure struct {
	callback string
	code     int32
	msg      string
	err      error
}

// deliver hands the batch to the plugin under its call lock. It returns a *CallbackError
// only for a halt-policy failure. During a reload the events are kept in the reload
// buffer instead (fromQueue: the async worker draining the old queue, which still
// delivers to the old instance).
func (s *slot) deliver(b *batch, fromQueue bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.reloading && !fromQueue {
		if s.holdForReload(b) {
			return nil
		}
		s.reloadCond.Wait() // on_full block: the broadcaster waits for the reload to end
	}
	if s.catching.Load() && !fromQueue {
		return nil // reloaded meanwhile into a catch-up, which delivers it from the journal
	}
	return s.deliverLocked(b)
}

// deliverLocked is deliver under s.mu.
func (s *slot) deliverLocked(b *batch) error {
	if s.closed {
		return nil
	}
	cur := s.cur.Load()
	if cur.resume != 0 {
		part, release := s.belowResume(cur, b)
		if release != nil {
			defer release()
		}
		if part == nil {
			return nil
		}
		b = part
	}
	if c := s.blocked(cur); c != causeNone {
		s.lose(c, subscribed(b, cur.mask))
		return nil
	}
	s.pass = pass{}
	cur.inst.deliver(s, noescape(b), cur.mask)
	var total uint64
	for k := range s.pass.delivered {
		if n := s.pass.delivered[k]; n != 0 {
			s.stats.byKind[k].Add(uint64(n))
			total += uint64(n)
		}
	}
	if total != 0 && s.position.Load() != b.maxHeight {
		s.position.Store(b.maxHeight) // a store only when it changes: once per block, not per event
	}
	if s.pass.stop != causeNone {
		s.lose(s.pass.stop, subscribed(b, cur.mask)-total)
	}
	if s.pass.failed == 0 {
		return nil
	}
	return s.report(cur, b)
}

// blocked returns why nothing more may be delivered to the plugin, or causeNone.
func (s *slot) blocked(cur *loaded) cause {
	switch {
	case s.abandon.Load():
		return causeDrainTimeout
	case s.disabled.Load():
		return causeDisabled
	case s.halted.Load() && (cur == nil || cur.cfg.Delivery == DeliveryAsync):
		// The node cannot be told from the worker: a failed async plugin gets nothing more.
		return causeFailed
	}
	return causeNone
}

// timed reports whether this call's duration is sampled (called under s.mu).
func (s *slot) timed() bool {
	s.sample++
	return s.sample <= timedFirst || s.sample%sampleEvery == 0
}

// called counts one callback invocation and, if it was timed (t0 not zero), its duration.
func (s *slot) called(t0 time.Time) {
	s.stats.calls.Add(1)
	if !t0.IsZero() {
		s.stats.latency.observe(time.Since(t0))
	}
}

// stopping reports, between per-event calls, whether the rest of the batch must not be
// delivered (the drain timed out, or the error policy stopped the plugin); the rest is
// counted by that cause.
func (s *slot) stopping() bool {
	c := s.blocked(nil)
	if c == causeFailed && s.cur.Load().cfg.Delivery != DeliveryAsync {
		c = causeNone // a sync halt plugin keeps receiving: the node was told to stop
	}
	s.pass.stop = c
	return c != causeNone
}

// delivered counts one event handed to a per-event callback.
func (s *slot) delivered(k abi.EventKind) {
	if k < abi.KindCount {
		s.pass.delivered[k]++
	}
}

// deliveredAll counts the events of b in mask as handed over (one batch call).
func (s *slot) deliveredAll(b *batch, mask abi.EventMask) {
	for k := abi.EventKind(0); k < abi.KindCount; k++ {
		if mask.Has(k) {
			s.pass.delivered[k] += b.counts[k]
		}
	}
}

// succeeded records a callback that returned success (under s.mu).
func (s *slot) succeeded() { s.consecutive = 0 }

// failure records a failed callback that was given n events of the kinds in kinds (under
// s.mu): it counts it and applies the error policy's state change at once (so that a
// disable tripping mid-batch stops the batch); deliver reports the failures once the batch
// is done.
func (s *slot) failure(callback string, code int32, msg string, goErr error, kinds abi.EventMask, n int) {
	cur := s.cur.Load()
	s.stats.errors.Add(1)
	s.consecutive++
	p := &s.pass
	if p.failed == 0 {
		s.first = firstFailure{callback: callback, code: code, msg: msg, err: goErr}
	}
	p.failed += n
	p.kinds |= kinds
	switch cur.cfg.ErrorPolicy {
	case PolicyHalt:
		s.halted.Store(true)
	case PolicyDisable:
		if s.consecutive >= cur.cfg.MaxConsecutiveErrors && !s.disabled.Load() {
			s.disabled.Store(true)
			p.tripped = true
		}
	}
}

// report turns the pass's failures into one *CallbackError naming the batch, records and
// logs it as the error policy says, and returns it for the halt policy.
func (s *slot) report(cur *loaded, b *batch) error {
	p := &s.pass
	cerr := &CallbackError{Plugin: cur.name, Callback: s.first.callback, Code: s.first.code, Message: s.first.msg,
		Err: s.first.err, Halt: cur.cfg.ErrorPolicy == PolicyHalt, Kinds: p.kinds, Failed: p.failed,
		Events: int(subscribed(b, cur.mask))}
	s.first = firstFailure{}
	first := true
	evs := b.events()
	for i := range evs {
		if e := &evs[i]; cur.mask.Has(e.Kind) {
			if first {
				cerr.FirstHeight, first = e.BlockHeight, false
			}
			cerr.LastHeight = e.BlockHeight
		}
	}
	s.stats.lastErr.Store(&lastError{msg: cerr.Error(), at: time.Now()})
	switch {
	case cerr.Halt:
		if !s.haltLogged {
			s.haltLogged = true
			cur.log.Error().Err(cerr).Msg("plugin callback failed; error_policy halt: the node is told to stop")
		} else {
			s.warnLimited(cerr)
		}
		return cerr
	case p.tripped:
		cur.log.Warn().Err(cerr).Int("consecutive_errors", s.consecutive).
			Msg("plugin disabled after too many consecutive errors (error_policy disable); reload it to re-enable")
		return nil
	}
	s.warnLimited(cerr)
	return nil
}

// warnLimited logs a callback failure, at most once per second per plugin; the next line
// says how many were not logged in between (and Counters.Suppressed counts them all).
func (s *slot) warnLimited(err error) {
	s.warnMu.Lock()
	now := time.Now()
	if now.Sub(s.warnAt) < time.Second {
		s.warnSkip++
		s.stats.suppressed.Add(1)
		s.warnMu.Unlock()
		return
	}
	skipped := s.warnSkip
	s.warnAt, s.warnSkip = now, 0
	s.warnMu.Unlock()
	e := s.cur.Load().log.Warn().Err(err)
	if skipped > 0 {
		e = e.Int("suppressed", skipped)
	}
	e.Msg("plugin callback failed")
}

// flushWarnings logs how many warnings the rate limiter suppressed since its last line,
// so that none goes unmentioned when the plugin unloads.
func (s *slot) flushWarnings() {
	s.warnMu.Lock()
	skipped := s.warnSkip
	s.warnSkip = 0
	s.warnMu.Unlock()
	if skipped > 0 {
		s.cur.Load().log.Warn().Int("suppressed", skipped).
			Msg("plugin callback failures not logged since the last line (rate limit: one line per second)")
	}
}
