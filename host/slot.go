package host

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
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
	consecutive int    // failures in a row (under mu)
	sample      uint64 // calls so far, for latency sampling (under mu)
	halt        error  // the first halt-policy error of the delivery in progress (under mu)

	disabled atomic.Bool
	halted   atomic.Bool
	abandon  atomic.Bool // async drain timed out: stop delivering (counted as dropped)
	stats    counters
	warnMu   sync.Mutex
	warnAt   time.Time
	warnSkip int

	async atomic.Pointer[asyncQueue] // set for delivery "async"
}

// loaded is one loaded instance of a plugin with the settings it was loaded with. It is
// immutable: a reload publishes a new one.
type loaded struct {
	name     string
	inst     instance
	cfg      *Config // never nil (a Register without config gets a default one)
	mask     abi.EventMask
	log      zerolog.Logger
	loadedAt time.Time
}

// newSlot returns an unpublished slot holding l.
func newSlot(l *loaded) *slot {
	s := &slot{}
	s.cur.Store(l)
	return s
}

// name is the plugin's name.
func (s *slot) name() string { return s.cur.Load().name }

// shutdown stops deliveries to the slot (waiting for an in-flight call), drains its async
// queue, then calls on_unload and destroy and closes the library.
func (s *slot) shutdown() error {
	if q := s.async.Load(); q != nil {
		q.stop(s)
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	inst := s.cur.Load().inst
	uerr := inst.unload()
	if cerr := inst.close(); cerr != nil {
		return cerr
	}
	return uerr
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
