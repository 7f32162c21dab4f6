//go:build windows

package host

import "syscall"

const libExt = ".dll"

// openLibrary loads a DLL with LoadLibrary.
func openLibrary(path string) (uintptr, error) {
	h, err := syscall.LoadLibrary(path)
	return uintptr(h), err
}

func librarySymbol(h uintptr, name string) (uintptr, error) {
	return syscall.GetProcAddress(syscall.Handle(h), name)
}

func closeLibrary(h uintptr) error { return syscall.FreeLibrary(syscall.Handle(h)) }
