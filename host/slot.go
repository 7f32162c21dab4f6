package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
)

// slot is one plugin in the manager: its place in the plugin order, its counters and its
// error-policy state, which last as long as the plugin is loaded, and the current loaded
// instance with its settings, which a reload replaces.
type slot struct {
	cur atomic.Pointer[loaded] // never nil once published

	// mu serializes calls into the plugin and guards closed: a delivery that finds the slot
	// closed skips it, so once unload has set closed under mu no call can reach the plugin.
	mu          sync.Mutex
	closed      bool
	consecutive int          // failures in a row (under mu)
	sample      uint64       // calls so far, for latency sampling (under mu)
	pass        pass         // the delivery in progress (under mu)
	first       firstFailure // its first failure (under mu)
	haltLogged  bool         // the halt policy's error line was logged (under mu)
	one         *cabi.Arena  // the single-event path's encoding (single.go; under mu)
	args        []uintptr    // the arguments of a callback call (callSelf; under mu)

	// A reload (reload.go) holds what is broadcast meanwhile in pending, under mu.
	reloading  bool
	pending    [][]abi.Event                 // owned copies, in broadcast order
	pendingN   int                           // events in pending
	reloadCond sync.Cond                     // L is &mu; signalled when the reload ends
	reloadDone atomic.Pointer[chan struct{}] // set while a reload runs; closed when it ends (read without mu: Flush must not wait for a callback)
	vacant     atomic.Bool                   // between unloading the old instance and publishing the new (set under Manager.mu)
	unloadErr  atomic.Pointer[string]

	disabled atomic.Bool
	halted   atomic.Bool
	abandon  atomic.Bool // async drain timed out: stop delivering (counted as DrainTimeout)
	stats    counters
	warnMu   sync.Mutex
	warnAt   time.Time
	warnSkip int

	async atomic.Pointer[asyncQueue] // set for delivery "async"

	// The catch-up from the journal (journal.go): while catching, Broadcast skips the slot;
	// mark is the last journal record the catch-up passed (Broadcast skips records up to it).
	catching atomic.Bool
	mark     atomic.Uint64
	catch    atomic.Pointer[catchUp]
	position atomic.Uint32 // the height of the last event delivered
}

// loaded is one loaded instance of a plugin with the settings it was loaded with. It is
// immutable: a reload publishes a new one.
type loaded struct {
	name   string
	inst   instance
	cfg    *Config // never nil (a Register without config gets a default one)
	mask   abi.EventMask
	resume uint64 // the instance's resume height: events below it are skipped (counted)
	// hasResume: the instance keeps a position (resume_height, Resumer), even if resume is
	// 0. Only such a plugin catches up from the journal.
	hasResume bool
	log       zerolog.Logger
	loadedAt  time.Time
}

// newSlot returns an unpublished slot holding l.
func newSlot(l *loaded) *slot {
	s := &slot{}
	s.reloadCond.L = &s.mu
	s.cur.Store(l)
	return s
}

// name is the plugin's name.
func (s *slot) name() string { return s.cur.Load().name }

// shutdown stops deliveries to the slot (waiting for an in-flight call), drains its async
// queue, then calls on_unload and destroy and closes the library. What went wrong in
// on_unload or in closing is returned and kept for PluginInfo.UnloadError.
func (s *slot) shutdown() error {
	s.stopCatchUp()
	if q := s.async.Load(); q != nil {
		q.stop(s)
	}
	s.mu.Lock()
	s.closeLocked()
	s.mu.Unlock()
	err := closeInstance(s.cur.Load().inst)
	s.flushWarnings()
	if err != nil {
		msg := err.Error()
		s.unloadErr.Store(&msg)
	}
	return err
}

// closeLocked (under s.mu) closes the slot to deliveries and frees what they used.
func (s *slot) closeLocked() {
	s.closed = true
	if s.one != nil {
		s.one.Free()
		s.one = nil
	}
}

// closeInstance calls on_unload, then destroys the instance and closes its library.
func closeInstance(inst instance) error {
	uerr := inst.unload()
	return errors.Join(uerr, inst.close())
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

// flush waits until what was broadcast to s before the call has been handed to it (see
// Manager.Flush).
func (s *slot) flush(ctx context.Context) error {
	if c := s.catch.Load(); c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if done := s.reloadDone.Load(); done != nil {
		select {
		case <-*done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if q := s.async.Load(); q != nil {
		return q.flush(ctx)
	}
	return nil
}
