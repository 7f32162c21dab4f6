package host

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// Plugin is a Go-native plugin, linked into the node and added with Manager.Register. It
// mirrors snarkVM's SlipstreamPlugin trait and the C vtable.
//
// # Threading
//
// The manager never calls one plugin concurrently; calls may come from different
// goroutines. OnBroadcast runs on the node's finalization path (delivery "sync") or on the
// plugin's worker goroutine (delivery "async").
//
// # Memory
//
// The byte slices of the event passed to OnBroadcast are borrowed: copy what you keep
// after OnBroadcast returns.
type Plugin interface {
	// Name is the plugin's name, unless its config's name overrides it.
	Name() string
	// OnLoad reads the plugin's config; configFile is "" when registered without one. An
	// error aborts the registration.
	OnLoad(configFile string, isReload bool) error
	// OnUnload flushes and releases what OnLoad opened.
	OnUnload()
	// SubscribedEvents returns the kinds the plugin wants; read once after OnLoad.
	SubscribedEvents() abi.EventMask
	// OnBroadcast receives one event of a subscribed kind. An error is logged and counted
	// (error_policy log), or handled as the plugin's error policy says.
	OnBroadcast(ev abi.Event) error
}

// State is a plugin's delivery state.
type State string

// The states of a loaded plugin.
const (
	StateActive   State = "active"   // receiving events
	StateDisabled State = "disabled" // error_policy disable tripped; a reload re-enables it
	StateFailed   State = "failed"   // error_policy halt tripped: the node was told to stop
)

// slot is one loaded plugin in the manager: the instance, its settings and its counters.
type slot struct {
	name     string
	cfg      *Config // never nil (a Register without config gets a default one)
	native   *native // set for C-ABI plugins
	gp       Plugin  // set for Go-native plugins
	mask     abi.EventMask
	log      zerolog.Logger
	loadedAt time.Time

	// mu serializes calls into the plugin and guards closed: a delivery that finds the slot
	// closed skips it, so once unload has set closed under mu no call can reach the plugin.
	mu          sync.Mutex
	closed      bool
	consecutive int    // failures in a row (under mu)
	sample      uint64 // calls so far, for latency sampling (under mu)

	disabled atomic.Bool
	halted   atomic.Bool
	abandon  atomic.Bool // async drain timed out: stop delivering (counted as dropped)
	stats    counters
	warnMu   sync.Mutex
	warnAt   time.Time
	warnSkip int

	async *asyncQueue // set for delivery "async"
}

// batch is one broadcast as a slot sees it: the events, their kinds, and (for C plugins)
// their encoding.
type batch struct {
	evs     []abi.Event
	present abi.EventMask         // kinds present in evs
	counts  [abi.KindCount]uint32 // events per kind
	payload int                   // bytes of the events' fields (for the encoder)
	arena   *cabi.Arena           // the encoding of evs; nil if no C plugin needs it
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
func (b *batch) encode(a *cabi.Arena) {
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
	s.countKinds(b)
	if s.native != nil {
		return s.deliverNative(b.arena, b.present)
	}
	return s.deliverGo(b.evs)
}

// countKinds adds the events of subscribed kinds to the counters: once per kind, not
// once per event.
func (s *slot) countKinds(b *batch) {
	var total uint64
	for k := abi.EventKind(0); k < abi.KindCount; k++ {
		if c := b.counts[k]; c != 0 && s.mask.Has(k) {
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

func (s *slot) deliverNative(a *cabi.Arena, present abi.EventMask) error {
	ptr, count := a.Addr(), a.Len()
	if present&^s.mask != 0 {
		if ptr, count = a.Select(s.mask); count == 0 {
			return nil
		}
	}
	n := s.native
	if n.vt.OnBroadcastBatch != 0 {
		rc := s.callNative(n.vt.OnBroadcastBatch, ptr, uintptr(count), a.ErrorArg())
		if rc != 0 {
			return s.failed("on_broadcast_batch", rc, a.ErrorMessage(), nil)
		}
		s.consecutive = 0
		return nil
	}
	var halt error
	for i := 0; i < count; i++ {
		if s.abandon.Load() {
			s.stats.dropped.Add(uint64(count - i))
			break
		}
		rc := s.callNative(n.vt.OnBroadcast, ptr+uintptr(i)*cabi.SizeofEvent, a.ErrorArg())
		if rc != 0 {
			if err := s.failed("on_broadcast", rc, a.ErrorMessage(), nil); err != nil && halt == nil {
				halt = err
			}
			if s.disabled.Load() {
				break
			}
			continue
		}
		s.consecutive = 0
	}
	return halt
}

// callNative calls a broadcast callback, fn(self, args...), and counts it.
func (s *slot) callNative(fn uintptr, args ...uintptr) int32 {
	s.stats.calls.Add(1)
	if !s.timed() {
		return int32(callSelf(fn, s.native.self, args))
	}
	t0 := time.Now()
	rc := int32(callSelf(fn, s.native.self, args))
	s.stats.latency.observe(time.Since(t0))
	return rc
}

func (s *slot) deliverGo(evs []abi.Event) error {
	var halt error
	for i := range evs {
		if !s.mask.Has(evs[i].Kind) {
			continue
		}
		if s.abandon.Load() {
			s.stats.dropped.Add(1)
			continue
		}
		s.stats.calls.Add(1)
		var err error
		if s.timed() {
			t0 := time.Now()
			err = s.callGo(&evs[i])
			s.stats.latency.observe(time.Since(t0))
		} else {
			err = s.callGo(&evs[i])
		}
		if err != nil {
			if herr := s.failed("OnBroadcast", 0, "", err); herr != nil && halt == nil {
				halt = herr
			}
			if s.disabled.Load() {
				break
			}
			continue
		}
		s.consecutive = 0
	}
	return halt
}

// callGo calls a Go-native plugin's OnBroadcast, turning a panic into an error: a plugin's
// bug must not take the node's finalization down.
func (s *slot) callGo(ev *abi.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return s.gp.OnBroadcast(*ev)
}

// failed counts and reports a failed callback (called under s.mu) and applies the error
// policy. It returns an error only for the halt policy.
func (s *slot) failed(callback string, rc int32, msg string, goErr error) error {
	s.stats.errors.Add(1)
	s.consecutive++
	cerr := &CallbackError{Plugin: s.name, Callback: callback, Code: rc, Message: msg, Err: goErr,
		Halt: s.cfg.ErrorPolicy == PolicyHalt}
	s.stats.lastErr.Store(&lastError{msg: cerr.Error(), at: time.Now()})
	switch s.cfg.ErrorPolicy {
	case PolicyHalt:
		s.halted.Store(true)
		s.log.Error().Err(cerr).Msg("plugin callback failed; error_policy halt: the node is told to stop")
		return cerr
	case PolicyDisable:
		if s.consecutive >= s.cfg.MaxConsecutiveErrors {
			s.disabled.Store(true)
			s.log.Warn().Err(cerr).Int("consecutive_errors", s.consecutive).
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
	e := s.log.Warn().Err(err)
	if skipped > 0 {
		e = e.Int("suppressed", skipped)
	}
	e.Msg("plugin callback failed")
}

// shutdown stops deliveries to the slot (waiting for an in-flight call), drains its async
// queue, then calls on_unload and destroy and closes the library.
func (s *slot) shutdown() error {
	if s.async != nil {
		s.async.stop(s)
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.native != nil {
		s.native.unload()
		return s.native.close()
	}
	s.callUnloadGo()
	return nil
}

func (s *slot) callUnloadGo() {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Interface("panic", r).Msg("plugin OnUnload panicked")
		}
	}()
	s.gp.OnUnload()
}

func (s *slot) state() State {
	switch {
	case s.halted.Load():
		return StateFailed
	case s.disabled.Load():
		return StateDisabled
	}
	return StateActive
}

// PluginInfo describes a loaded plugin.
type PluginInfo struct {
	Name          string
	ConfigFile    string        // "" for a Go-native plugin registered without config
	Path          string        // the library's resolved path; "" for Go-native plugins
	Native        bool          // a C-ABI library (false: a Go-native plugin)
	ABIVersion    uint32        // what slipstream_abi_version returned (abi.Version for Go plugins)
	Subscriptions abi.EventMask // what subscribed_events returned
	ErrorPolicy   ErrorPolicy
	Delivery      Delivery
	State         State
	LoadedAt      time.Time
	Counters      Counters
	// UnloadError is what went wrong while the plugin was unloaded ("" when it unloaded
	// cleanly or is still loaded): an OnUnload panic, an error-level line the plugin logged
	// during on_unload, or a failure to close its library.
	UnloadError string
}

func (s *slot) info() PluginInfo {
	pi := PluginInfo{
		Name:          s.name,
		ConfigFile:    s.cfg.File,
		ABIVersion:    abi.Version,
		Subscriptions: s.mask,
		ErrorPolicy:   s.cfg.ErrorPolicy,
		Delivery:      s.cfg.Delivery,
		State:         s.state(),
		LoadedAt:      s.loadedAt,
	}
	if s.native != nil {
		pi.Native, pi.Path, pi.ABIVersion = true, s.native.libPath, s.native.abiVersion
	}
	c := &pi.Counters
	c.Events, c.Calls, c.Errors, c.Dropped = s.stats.events.Load(), s.stats.calls.Load(), s.stats.errors.Load(), s.stats.dropped.Load()
	for k := range c.ByKind {
		c.ByKind[k] = s.stats.byKind[k].Load()
	}
	c.Latency = s.stats.latency.Snapshot()
	if le := s.stats.lastErr.Load(); le != nil {
		c.LastError, c.LastErrAt = le.msg, le.at
	}
	if s.async != nil {
		c.QueueDepth = s.async.depth()
	}
	return pi
}
