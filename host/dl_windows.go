//go:build windows

package host

import (
	"path/filepath"
	"syscall"

	"golang.org/x/sys/windows"
)

const libExt = ".dll"

// openLibrary loads a DLL with LoadLibraryEx and LOAD_WITH_ALTERED_SEARCH_PATH: the DLLs
// the plugin itself imports are looked for in the plugin's own folder first (instead of
// the executable's), then where Windows always looks (the system folders, the current
// directory, PATH). Plain LoadLibrary would not find a dependency shipped beside the
// plugin. The flag needs an absolute path.
func openLibrary(path string) (uintptr, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	h, err := windows.LoadLibraryEx(abs, 0, windows.LOAD_WITH_ALTERED_SEARCH_PATH)
	return uintptr(h), err
}

func librarySymbol(h uintptr, name string) (uintptr, error) {
	return syscall.GetProcAddress(syscall.Handle(h), name)
}

func closeLibrary(h uintptr) error { return syscall.FreeLibrary(syscall.Handle(h)) }
