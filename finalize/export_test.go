package finalize

import (
	"sync"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/ctest"
)

// setBroadcaster installs a fake plugin manager, with the same first-call-wins rule as
// SetSlipstreamPluginManager. It is the test hook for delivery tests.
func (s *Store) setBroadcaster(b broadcaster) bool { return s.install(&sink{b: b}) }

// call is one call the recorder received: Broadcast (batch false) or BroadcastBatch.
type call struct {
	batch  bool
	events []abi.Event
}

// recorder is a fake plugin manager: it subscribes to mask, deep-copies every event it is
// handed (the store may reuse its buffers after the call) and returns err from every call.
type recorder struct {
	mu    sync.Mutex
	mask  abi.EventMask
	err   error
	calls []call
	// onCall, if set, runs at the start of every Broadcast/BroadcastBatch.
	onCall func()
}

func newRecorder(kinds ...abi.EventKind) *recorder {
	if len(kinds) == 0 {
		return &recorder{mask: abi.MaskAll}
	}
	return &recorder{mask: abi.MaskOf(kinds...)}
}

func (r *recorder) HasSubscribers(k abi.EventKind) bool { return r.mask.Has(k) }

func (r *recorder) Broadcast(ev abi.Event) error {
	if r.onCall != nil {
		r.onCall()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{events: []abi.Event{ctest.CopyEvent(ev)}})
	return r.err
}

func (r *recorder) BroadcastBatch(evs []abi.Event) error {
	if r.onCall != nil {
		r.onCall()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := call{batch: true}
	for _, ev := range evs {
		c.events = append(c.events, ctest.CopyEvent(ev))
	}
	r.calls = append(r.calls, c)
	return r.err
}

// Calls returns the calls so far.
func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// Events returns every event received so far, in order, across calls.
func (r *recorder) Events() []abi.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []abi.Event
	for _, c := range r.calls {
		out = append(out, c.events...)
	}
	return out
}

func (r *recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// len returns the number of events held.
func (h *heldEvents) len() int {
	n := 0
	for _, a := range h.phases {
		if a != nil {
			n += a.Len()
		}
	}
	return n
}
