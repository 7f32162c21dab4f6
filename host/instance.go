package host

import (
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
)

// instance is one loaded plugin of one kind: a C-ABI library (instance_native.go) or a
// Go value (instance_go.go). The slot that holds it owns everything the kinds share
// (settings, counters, error policy, async queue, reload); an instance only knows how to
// call its plugin. A new kind (a plugin in a child process, say) is one new implementation.
//
// The slot calls an instance under its call lock: never concurrently, and never after
// close.
type instance interface {
	// deliver hands the events of b whose kind is in mask to the plugin, in order. For each
	// callback it calls s.timed, s.called, s.delivered (s.deliveredAll for a batch call),
	// s.failure and s.succeeded, and between
	// per-event calls (not before the first: the slot has just checked) it stops when
	// s.stopping says so.
	deliver(s *slot, b *batch, mask abi.EventMask)
	// encoded reports whether deliver reads b.arena (the events in C layout).
	encoded() bool
	// resumeHeight asks the plugin, once after it loaded, for the first block height it
	// still needs (ABI 1.1 resume_height; ResumeHeight for Go plugins): everything below it
	// the plugin has stored. ok is false (and h 0) when it keeps no position (a 1.0 plugin, a
	// NULL entry, a Go plugin without the method). An error fails the load.
	resumeHeight() (h uint64, ok bool, err error)
	// unload calls the plugin's on_unload and reports what went wrong in it.
	unload() error
	// close destroys the instance and releases its library; after it the instance is dead.
	close() error
	// describe fills the kind-specific fields of pi (Native, Path, ABIVersion).
	describe(pi *PluginInfo)
	// reopen loads the same plugin again from cfg (is_reload set) into a new, unpublished
	// slot; the manager holds m.mu.
	reopen(m *Manager, cfg *Config) (*slot, error)
}

// noescape returns b, hidden from escape analysis. deliver goes through an interface, so
// the compiler cannot see that no instance keeps the batch (or the events it points at)
// beyond the call, and Broadcast's event and batch would move to the heap on every call.
// Instances must not retain b or b.evs after deliver returns (the async queue copies).
// It is the runtime's noescape, written so that no uintptr becomes a pointer by
// conversion: the pointer is read back from the integer's memory, in a function that
// cannot grow the stack in between.
//
//go:nosplit
func noescape(b *batch) *batch {
	x := uintptr(unsafe.Pointer(b))
	return *(**batch)(unsafe.Pointer(&x))
}
