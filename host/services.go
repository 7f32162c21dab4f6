package host

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/cmem"
)

// The host services (slipstream_host) are two C function pointers made from Go functions
// with purego.NewCallback. purego can make only about 2000 callbacks per process and never
// frees them, so both are made once per process and shared by every plugin; the ctx a
// plugin passes back is a small integer handle that names its serviceCtx, never a Go
// pointer.

var (
	callbacksOnce sync.Once
	logCallback   uintptr
	configCallbck uintptr

	ctxs      sync.Map // uintptr handle -> *serviceCtx
	ctxHandle atomic.Uintptr
)

// serviceCtx is what a plugin's host services act on.
type serviceCtx struct {
	log zerolog.Logger // tagged with the plugin's name
	// cfg is the config being loaded; set only during on_load (config_get answers -1 else).
	cfg atomic.Pointer[Config]
	// unloading is set during on_unload; the first error-level line logged meanwhile is
	// kept in unloadErr (the unload error).
	unloading atomic.Bool
	unloadErr atomic.Pointer[string]
}

func hostCallbacks() (logFn, configFn uintptr) {
	callbacksOnce.Do(func() {
		// Every parameter and result is uintptr-sized so that the same functions work with
		// Windows' syscall.NewCallback; C reads only the low 32 bits of level and ignores
		// log's result.
		logCallback = purego.NewCallback(func(ctx, level, msg uintptr) uintptr {
			hostLog(ctx, int32(level), msg)
			return 0
		})
		configCallbck = purego.NewCallback(func(ctx, key, buf, capacity uintptr) uintptr {
			return uintptr(hostConfigGet(ctx, key, buf, uint64(capacity)))
		})
	})
	return logCallback, configCallbck
}

// maxLogLine bounds what the host reads of a plugin's log message.
const maxLogLine = 64 << 10

func hostLog(ctx uintptr, level int32, msg uintptr) {
	v, ok := ctxs.Load(ctx)
	if !ok || msg == 0 {
		return
	}
	sc := v.(*serviceCtx)
	text := cmem.GoString(msg, maxLogLine)
	var e *zerolog.Event
	switch level {
	case abi.LogTrace:
		e = sc.log.Trace()
	case abi.LogDebug:
		e = sc.log.Debug()
	case abi.LogInfo:
		e = sc.log.Info()
	case abi.LogWarn:
		e = sc.log.Warn()
	default:
		e = sc.log.Error()
		if sc.unloading.Load() {
			sc.unloadErr.CompareAndSwap(nil, &text)
		}
	}
	e.Msg(text)
}

func hostConfigGet(ctx, key, buf uintptr, capacity uint64) int64 {
	v, ok := ctxs.Load(ctx)
	if !ok || key == 0 {
		return -1
	}
	cfg := v.(*serviceCtx).cfg.Load()
	if cfg == nil {
		return -1
	}
	text, ok := cfg.Value(cmem.GoString(key, 4096))
	if !ok {
		return -1
	}
	if buf != 0 && capacity > 0 {
		dst := unsafe.Slice((*byte)(cmem.Pointer(buf)), capacity)
		n := copy(dst[:capacity-1], text)
		dst[n] = 0
	}
	return int64(len(text))
}

// hostBlock is one plugin's slipstream_host, outside the Go heap (it must stay valid until
// destroy returns, and C must not see Go memory).
type hostBlock struct {
	mem    []byte
	handle uintptr
	sc     *serviceCtx
}

func newHostBlock(log zerolog.Logger) (*hostBlock, error) {
	mem, err := cmem.Alloc(int(cabi.SizeofHost))
	if err != nil {
		return nil, err
	}
	logFn, cfgFn := hostCallbacks()
	hb := &hostBlock{mem: mem, handle: ctxHandle.Add(1), sc: &serviceCtx{log: log}}
	*(*cabi.CHost)(unsafe.Pointer(&mem[0])) = cabi.CHost{
		StructSize: uint32(cabi.SizeofHost),
		Ctx:        hb.handle,
		Log:        logFn,
		ConfigGet:  cfgFn,
	}
	ctxs.Store(hb.handle, hb.sc)
	return hb, nil
}

func (hb *hostBlock) addr() uintptr { return cmem.Addr(hb.mem) }

// free forgets the handle (later log calls are ignored) and releases the struct. Call it
// only after destroy has returned.
func (hb *hostBlock) free() {
	ctxs.Delete(hb.handle)
	cmem.Free(hb.mem)
	hb.mem = nil
}
