package host

import (
	"fmt"
	"time"

	"github.com/slipstream-go/slipstream/abi"
)

// goInstance implements instance for a Go-native plugin (Manager.Register).
type goInstance struct{ p Plugin }

var _ instance = goInstance{}

func (g goInstance) encoded() bool { return false }

// deliver calls OnBroadcast for each event of a subscribed kind.
func (g goInstance) deliver(s *slot, b *batch, mask abi.EventMask) {
	evs := b.events()
	first := true
	for i := range evs {
		if !mask.Has(evs[i].Kind) {
			continue
		}
		if !first && s.stopping() { // before the first event the slot has checked
			return
		}
		first = false
		var t0 time.Time
		if s.timed() {
			t0 = time.Now()
		}
		err := g.call(&evs[i])
		s.called(t0)
		s.delivered(evs[i].Kind)
		if err != nil {
			s.failure("OnBroadcast", 0, "", err, abi.Mask(evs[i].Kind), 1)
			continue
		}
		s.succeeded()
	}
}

// call calls OnBroadcast, turning a panic into an error: a plugin's bug must not take the
// node's finalization down.
func (g goInstance) call(ev *abi.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return g.p.OnBroadcast(*ev)
}

// Resumer is the optional interface of a Go-native plugin that keeps a durable position:
// the Go form of ABI 1.1's resume_height. ResumeHeight returns the first block height the
// plugin still needs (everything below it is stored); the manager calls it once after
// OnLoad (and after each reload), before any event, and never delivers an event below it.
// An error fails the registration (OnUnload is called).
type Resumer interface {
	ResumeHeight() (uint64, error)
}

// resumeHeight asks a plugin that implements Resumer; a panic becomes an error.
func (g goInstance) resumeHeight() (h uint64, ok bool, err error) {
	r, ok := g.p.(Resumer)
	if !ok {
		return 0, false, nil
	}
	defer func() {
		if p := recover(); p != nil {
			h, err = 0, fmt.Errorf("%w: ResumeHeight panicked: %v", ErrResumeHeight, p)
		}
	}()
	if h, err = r.ResumeHeight(); err != nil {
		return 0, true, fmt.Errorf("%w: %w", ErrResumeHeight, err)
	}
	return h, true, nil
}

// unload calls OnUnload; a panic becomes the unload error.
func (g goInstance) unload() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: OnUnload panicked: %v", ErrOnUnload, r)
		}
	}()
	g.p.OnUnload()
	return nil
}

func (g goInstance) close() error { return nil }

func (g goInstance) describe(*PluginInfo) {}

func (g goInstance) reopen(m *Manager, cfg *Config) (*slot, error) { return m.loadGo(g.p, cfg, true) }
