package host

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/cmem"
)

// native implements instance for a C-ABI plugin (the type and its loading are in
// native.go).
var _ instance = (*native)(nil)

func (n *native) encoded() bool { return true }

// deliver passes the encoded events of subscribed kinds: in one on_broadcast_batch call
// when the plugin has it, else one on_broadcast per event.
func (n *native) deliver(s *slot, b *batch, mask abi.EventMask) {
	a := b.arena
	ptr, count := a.Addr(), a.Len()
	if b.present&^mask != 0 {
		if ptr, count = a.Select(mask); count == 0 {
			return
		}
	}
	if n.vt.OnBroadcastBatch != 0 {
		rc := n.call(s, n.vt.OnBroadcastBatch, ptr, uintptr(count), a.ErrorArg())
		s.deliveredAll(b, mask)
		if rc != 0 {
			s.failure("on_broadcast_batch", rc, a.ErrorMessage(), nil, b.present&mask, count)
			return
		}
		s.succeeded()
		return
	}
	for i := 0; i < count; i++ {
		if i > 0 && s.stopping() { // before the first event the slot has checked
			return
		}
		ev := ptr + uintptr(i)*cabi.SizeofEvent
		kind := abi.EventKind((*cabi.CEvent)(cmem.Pointer(ev)).Kind)
		rc := n.call(s, n.vt.OnBroadcast, ev, a.ErrorArg())
		s.delivered(kind)
		if rc != 0 {
			s.failure("on_broadcast", rc, a.ErrorMessage(), nil, abi.Mask(kind), 1)
			continue
		}
		s.succeeded()
	}
}

// call calls a broadcast callback, fn(self, args...), and counts it.
func (n *native) call(s *slot, fn uintptr, args ...uintptr) int32 {
	rc := n.callUncounted(s, fn, args...)
	s.stats.calls.Add(1)
	return rc
}

// callUncounted is call without counting the call: the single-event path counts it with
// its event (counters.oneByKind).
func (n *native) callUncounted(s *slot, fn uintptr, args ...uintptr) int32 {
	if !s.timed() {
		return int32(callSelf(s, fn, n.self, args...))
	}
	t0 := time.Now()
	rc := int32(callSelf(s, fn, n.self, args...))
	s.stats.latency.observe(time.Since(t0))
	return rc
}

// resumeHeight calls resume_height, when the plugin's vtable has it (a 1.0 vtable's
// struct_size stops before it, and the host reads it as NULL).
func (n *native) resumeHeight() (uint64, bool, error) {
	if n.vt.ResumeHeight == 0 {
		return 0, false, nil
	}
	// One block outside the Go heap: the height, the error struct, its buffer.
	const heightOff, errOff, bufOff = 0, 8, 24
	mem, err := cmem.Alloc(bufOff + cabi.ErrorBufSize)
	if err != nil {
		return 0, true, err
	}
	defer cmem.Free(mem)
	*(*cabi.CError)(unsafe.Pointer(&mem[errOff])) = cabi.CError{Buf: cmem.Addr(mem[bufOff:]), Cap: cabi.ErrorBufSize}
	rc := int32(call(n.vt.ResumeHeight, n.self, cmem.Addr(mem[heightOff:]), cmem.Addr(mem[errOff:])))
	if rc != 0 {
		msg := cmem.GoString(cmem.Addr(mem[bufOff:]), cabi.ErrorBufSize)
		if msg == "" {
			msg = "(no message)"
		}
		return 0, true, fmt.Errorf("%w: resume_height returned %d: %s", ErrResumeHeight, rc, msg)
	}
	return *(*uint64)(unsafe.Pointer(&mem[heightOff])), true, nil
}

func (n *native) describe(pi *PluginInfo) {
	pi.Native, pi.Path, pi.ABIVersion = true, n.libPath, n.abiVersion
}

func (n *native) reopen(m *Manager, cfg *Config) (*slot, error) { return m.loadLibrary(cfg, true) }
