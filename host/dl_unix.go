//go:build darwin || linux || freebsd || netbsd

package host

import (
	"runtime"

	"github.com/ebitengine/purego"
)

// libExt is the usual file name extension of a shared library on this system.
var libExt = func() string {
	if runtime.GOOS == "darwin" {
		return ".dylib"
	}
	return ".so"
}()

// openLibrary loads a shared library with RTLD_NOW|RTLD_LOCAL: every symbol is resolved at
// once (a missing dependency fails here, not in a callback) and none leaks into the
// process's global namespace.
func openLibrary(path string) (uintptr, error) {
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
}

func librarySymbol(h uintptr, name string) (uintptr, error) { return purego.Dlsym(h, name) }

func closeLibrary(h uintptr) error { return purego.Dlclose(h) }
