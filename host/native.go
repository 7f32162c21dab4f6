package host

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/rs/zerolog"

	"github.com/slipstream-go/slipstream/abi"
	"github.com/slipstream-go/slipstream/internal/cabi"
	"github.com/slipstream-go/slipstream/internal/cmem"
)

// native is one instance of a C-ABI plugin in a loaded library.
//
// # Memory
//
// self, the vtable and the strings the plugin returns are the plugin's (C memory). The
// host's structs handed to it (slipstream_host, load args, events, error buffers) live
// outside the Go heap (internal/cmem, cabi.Arena), so no Go pointer ever reaches C.
type native struct {
	lib        uintptr     // library handle
	libPath    string      // resolved real path
	file       os.FileInfo // the library file's identity (os.SameFile), for "already loaded"
	abiVersion uint32
	self       uintptr // slipstream_plugin *
	vt         cabi.CPluginVtable
	ownName    string // what name() returned
	hb         *hostBlock
}

// call wraps purego.SyscallN for the vtable's function pointers.
func call(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// callSelf calls fn(self, args...), a broadcast callback, passing SyscallN the slot's
// argument buffer (under s.mu): a variadic list spelled out at the call would be allocated
// on every call, as SyscallN's arguments escape.
func callSelf(s *slot, fn, self uintptr, args ...uintptr) uintptr {
	s.args = append(append(s.args[:0], self), args...)
	r, _, _ := purego.SyscallN(fn, s.args...)
	return r
}

// openNative opens the library at path (already resolved and checked; the loader opens
// openPath, which is path or the private copy of a pinned library) and creates the plugin
// instance, calling slipstream_abi_version, _create_plugin and name. Any failure
// destroys what exists and closes the library.
func openNative(path string, openPath string) (_ *native, err error) {
	h, err := openLibrary(openPath)
	if err != nil {
		hint := "is it a shared library for this platform, with its dependencies installed?"
		if openPath != path {
			hint += " The pinned library is opened as a private copy under $TMPDIR, which must allow executable mappings (not noexec)."
		}
		return nil, fmt.Errorf("%w: %s: %v (%s)", ErrLibraryLoad, path, err, hint)
	}
	n := &native{lib: h, libPath: path}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	verFn, err := librarySymbol(h, "slipstream_abi_version")
	if err != nil || verFn == 0 {
		return nil, fmt.Errorf("%w: %s has no slipstream_abi_version: not a Slipstream %d.x plugin (build it with SLIPSTREAM_DECLARE_PLUGIN from slipstream.h)", ErrSymbolMissing, path, abi.Major)
	}
	n.abiVersion = uint32(call(verFn))
	if !abi.Compatible(n.abiVersion) {
		return nil, &ABIError{Library: path, Plugin: n.abiVersion, Host: abi.Version}
	}
	createFn, err := librarySymbol(h, "_create_plugin")
	if err != nil || createFn == 0 {
		return nil, fmt.Errorf("%w: %s has no _create_plugin (build it with SLIPSTREAM_DECLARE_PLUGIN from slipstream.h)", ErrSymbolMissing, path)
	}
	n.self = call(createFn)
	if n.self == 0 {
		return nil, fmt.Errorf("%w: %s: _create_plugin returned NULL", ErrInvalidPlugin, path)
	}
	vtp := (*cabi.CPlugin)(cmem.Pointer(n.self)).Vtable
	if vtp == 0 {
		n.self = 0 // cannot destroy without a vtable: the instance leaks
		return nil, fmt.Errorf("%w: %s: the plugin's vtable pointer is NULL", ErrInvalidPlugin, path)
	}
	size := uintptr((*cabi.CPluginVtable)(cmem.Pointer(vtp)).StructSize)
	if size < cabi.MinVtableSize {
		n.self = 0 // no destroy to call: the instance leaks
		return nil, fmt.Errorf("%w: %s: vtable struct_size %d is smaller than %d (it must hold name and destroy)", ErrInvalidPlugin, path, size, cabi.MinVtableSize)
	}
	// Read only the bytes the plugin's vtable has; fields past them stay 0 (NULL).
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&n.vt)), cabi.SizeofVtable),
		unsafe.Slice((*byte)(cmem.Pointer(vtp)), min(size, cabi.SizeofVtable)))
	if n.vt.Destroy == 0 {
		n.self = 0
		return nil, fmt.Errorf("%w: %s: the vtable's destroy is NULL", ErrInvalidPlugin, path)
	}
	if n.vt.Name == 0 {
		return nil, fmt.Errorf("%w: %s: the vtable's name is NULL", ErrInvalidPlugin, path)
	}
	if p := call(n.vt.Name, n.self); p != 0 {
		n.ownName = cmem.GoString(p, MaxNameLen+1) // one byte more: a longer name is refused, not cut
	}
	if n.ownName == "" {
		return nil, fmt.Errorf("%w: %s: name() returned NULL or an empty string", ErrInvalidPlugin, path)
	}
	return n, nil
}

// load calls on_load with the config and reads the subscriptions. On failure the caller
// closes the instance.
func (n *native) load(cfg *Config, log zerolog.Logger, isReload bool) (abi.EventMask, error) {
	hb, err := newHostBlock(log)
	if err != nil {
		return 0, err
	}
	n.hb = hb
	if n.vt.OnLoad != 0 {
		if err := n.onLoad(cfg, isReload); err != nil {
			return 0, err
		}
	}
	var mask abi.EventMask
	if n.vt.SubscribedEvents != 0 {
		mask = abi.EventMask(call(n.vt.SubscribedEvents, n.self)).Known()
	}
	if mask != 0 && n.vt.OnBroadcast == 0 && n.vt.OnBroadcastBatch == 0 {
		n.unload()
		return 0, fmt.Errorf("%w: %s subscribes to %v but sets neither on_broadcast nor on_broadcast_batch", ErrInvalidPlugin, n.libPath, mask)
	}
	return mask, nil
}

func (n *native) onLoad(cfg *Config, isReload bool) error {
	// One block outside the Go heap: load args, error struct, error buffer, strings.
	file, js := cfg.File, cfg.JSON()
	const argsOff, errOff, bufOff = 0, 64, 128
	fileOff := bufOff + cabi.ErrorBufSize
	jsonOff := fileOff + len(file) + 1
	mem, err := cmem.Alloc(jsonOff + len(js) + 1)
	if err != nil {
		return err
	}
	defer cmem.Free(mem)
	cmem.CString(mem[fileOff:], file)
	copy(mem[jsonOff:], js)
	args := (*cabi.CLoadArgs)(unsafe.Pointer(&mem[argsOff]))
	*args = cabi.CLoadArgs{
		StructSize: uint32(cabi.SizeofArgs),
		ConfigFile: cmem.Addr(mem[fileOff:]),
		ConfigJSON: cmem.Addr(mem[jsonOff:]),
		Host:       n.hb.addr(),
	}
	if isReload {
		args.IsReload = 1
	}
	*(*cabi.CError)(unsafe.Pointer(&mem[errOff])) = cabi.CError{Buf: cmem.Addr(mem[bufOff:]), Cap: cabi.ErrorBufSize}

	n.hb.sc.cfg.Store(cfg)
	rc := int32(call(n.vt.OnLoad, n.self, cmem.Addr(mem[argsOff:]), cmem.Addr(mem[errOff:])))
	n.hb.sc.cfg.Store(nil)
	if rc != 0 {
		msg := cmem.GoString(cmem.Addr(mem[bufOff:]), cabi.ErrorBufSize)
		if msg == "" {
			msg = "(no message)"
		}
		return fmt.Errorf("%w: returned %d: %s", ErrOnLoad, rc, msg)
	}
	return nil
}

// unload calls on_unload (if set). An error-level line the plugin logs through host->log
// during on_unload is its unload error.
func (n *native) unload() error {
	if n.vt.OnUnload == 0 || n.self == 0 {
		return nil
	}
	if n.hb == nil {
		call(n.vt.OnUnload, n.self)
		return nil
	}
	sc := n.hb.sc
	sc.unloading.Store(true)
	call(n.vt.OnUnload, n.self)
	sc.unloading.Store(false)
	if msg := sc.unloadErr.Swap(nil); msg != nil {
		return fmt.Errorf("%w: it logged an error: %s", ErrOnUnload, *msg)
	}
	return nil
}

// close destroys the instance (if it exists), frees the host block and closes the library.
func (n *native) close() error {
	if n.self != 0 {
		call(n.vt.Destroy, n.self)
		n.self = 0
	}
	if n.hb != nil {
		n.hb.free()
		n.hb = nil
	}
	var err error
	if n.lib != 0 {
		if cerr := closeLibrary(n.lib); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", n.libPath, cerr))
		}
		n.lib = 0
	}
	return err
}
