package host

import (
	"time"

	"github.com/slipstream-go/slipstream/abi"
)

// batch is one broadcast as a slot sees it: the events, their kinds, and (for C plugins)
// their encoding.
type batch struct {
	evs     []abi.Event
	present abi.EventMask         // kinds present in evs
	counts  [abi.KindCount]uint32 // events per kind
	payload int                   // bytes of the events' fields (for the encoder)
	arena   *abi.Arena            // the encoding of evs; nil if no C plugin needs it
}

// count fills present and counts, and sums the payload bytes for the encoder: one pass
// over the events.
func (b *batch) count() {
	b.present, b.counts, b.payload = 0, [abi.KindCount]uint32{}, 0
	for i := range b.evs {
		e := &b.evs[i]
		b.present |= abi.Mask(e.Kind)
		if e.Kind < abi.KindCount {
			b.counts[e.Kind]++
		}
		b.payload += e.Size()
	}
}

// encode writes the events into a (for the C plugins).
func (b *batch) encode(a *abi.Arena) {
	b.arena = a
	a.EncodeSized(b.evs, b.payload)
}

// sampleEvery: the latency histogram times one call in sampleEvery (and every one of the
// first sampleEvery*16), because reading the clock twice costs more than a C call here.
const sampleEvery = 16

// deliver hands the batch to the plugin under its call lock. It returns a *CallbackError
// only for a halt-policy failure.
func (s *slot) deliver(b *batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.disabled.Load() {
		return nil
	}
	cur := s.cur.Load()
	s.countKinds(b, cur.mask)
	s.halt = nil
	cur.inst.deliver(s, noescape(b), cur.mask)
	return s.halt
}

// countKinds adds the events of subscribed kinds to the counters: once per kind, not
// once per event.
func (s *slot) countKinds(b *batch, mask abi.EventMask) {
	var total uint64
	for k := abi.EventKind(0); k < abi.KindCount; k++ {
		if c := b.counts[k]; c != 0 && mask.Has(k) {
			s.stats.byKind[k].Add(uint64(c))
			total += uint64(c)
		}
	}
	s.stats.events.Add(total)
}

// timed reports whether this call's duration is sampled (called under s.mu).
func (s *slot) timed() bool {
	s.sample++
	return s.sample <= sampleEvery*16 || s.sample%sampleEvery == 0
}

// called counts one callback invocation and, if it was timed (t0 not zero), its duration.
func (s *slot) called(t0 time.Time) {
	s.stats.calls.Add(1)
	if !t0.IsZero() {
		s.stats.latency.observe(time.Since(t0))
	}
}

// stopping reports (between per-event calls, under s.mu) whether the rest of the batch
// must not be delivered; rest is how many events of it would be left, counted as dropped.
func (s *slot) stopping(rest int) bool {
	if s.abandon.Load() {
		s.stats.dropped.Add(uint64(rest))
		return true
	}
	return s.disabled.Load()
}

// succeeded records a callback that returned success (under s.mu).
func (s *slot) succeeded() { s.consecutive = 0 }

// failure records a failed callback (under s.mu) and applies the error policy; a halt
// error is kept for deliver to return.
func (s *slot) failure(callback string, rc int32, msg string, goErr error) {
	if err := s.failed(callback, rc, msg, goErr); err != nil && s.halt == nil {
		s.halt = err
	}
}

// failed counts and reports a failed callback (called under s.mu) and applies the error
// policy. It returns an error only for the halt policy.
func (s *slot) failed(callback string, rc int32, msg string, goErr error) error {
	cur := s.cur.Load()
	s.stats.errors.Add(1)
	s.consecutive++
	cerr := &CallbackError{Plugin: cur.name, Callback: callback, Code: rc, Message: msg, Err: goErr,
		Halt: cur.cfg.ErrorPolicy == PolicyHalt}
	s.stats.lastErr.Store(&lastError{msg: cerr.Error(), at: time.Now()})
	switch cur.cfg.ErrorPolicy {
	case PolicyHalt:
		s.halted.Store(true)
		cur.log.Error().Err(cerr).Msg("plugin callback failed; error_policy halt: the node is told to stop")
		return cerr
	case PolicyDisable:
		if s.consecutive >= cur.cfg.MaxConsecutiveErrors {
			s.disabled.Store(true)
			cur.log.Warn().Err(cerr).Int("consecutive_errors", s.consecutive).
				Msg("plugin disabled after too many consecutive errors (error_policy disable); reload it to re-enable")
			return nil
		}
	}
	s.warnLimited(cerr)
	return nil
}

// warnLimited logs a callback failure, at most once per second per plugin; the next line
// says how many were not logged in between.
func (s *slot) warnLimited(err error) {
	s.warnMu.Lock()
	now := time.Now()
	if now.Sub(s.warnAt) < time.Second {
		s.warnSkip++
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
