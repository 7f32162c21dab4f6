package ctest

import (
	"bytes"
	"cmp"
	"sync"

	"github.com/slipstream-go/slipstream/abi"
)

// CopyEvent returns ev with its byte fields copied (nil stays nil): what a plugin keeps of
// an event whose slices it only borrows.
func CopyEvent(ev abi.Event) abi.Event {
	for _, b := range []*[]byte{&ev.ProgramID, &ev.MappingName, &ev.Key, &ev.Value, &ev.Staker, &ev.Validator, &ev.Block} {
		*b = bytes.Clone(*b)
	}
	return ev
}

// GoRecorder is a Go-native plugin (it has host.Plugin's methods) subscribed to every kind
// that keeps a copy of every event it gets. Its name is PluginName, or "go-recorder".
type GoRecorder struct {
	PluginName string

	mu  sync.Mutex
	evs []abi.Event
}

// Name returns PluginName, or "go-recorder".
func (r *GoRecorder) Name() string { return cmp.Or(r.PluginName, "go-recorder") }

// OnLoad does nothing.
func (*GoRecorder) OnLoad(string, bool) error { return nil }

// OnUnload does nothing.
func (*GoRecorder) OnUnload() {}

// SubscribedEvents returns every kind.
func (*GoRecorder) SubscribedEvents() abi.EventMask { return abi.MaskAll }

// OnBroadcast keeps a copy of ev.
func (r *GoRecorder) OnBroadcast(ev abi.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, CopyEvent(ev))
	return nil
}

// Events returns the events received so far, in order.
func (r *GoRecorder) Events() []abi.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]abi.Event(nil), r.evs...)
}
