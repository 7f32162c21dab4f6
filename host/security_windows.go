//go:build windows

package host

import (
	"io"
	"os"
)

// openNonBlocking: Windows has no FIFOs that block an open.
const openNonBlocking = 0

// checkOwnership does nothing on Windows, where who may write a file is governed by the
// directory's ACL rather than by owners and mode bits: keep plugin directories writable by
// administrators (and the node's account) only.
func checkOwnership(string, os.FileInfo) error { return nil }

// pinnedCopy hashes the pinned library and returns its own path: a loaded DLL cannot be
// removed, so no private copy is made, and the library is opened by name after its hash
// was checked (the directory's ACL must keep others from replacing it in between).
func pinnedCopy(f *os.File, lib, want string) (string, func(), error) {
	if err := hashTo(f, io.Discard, lib, want); err != nil {
		return "", func() {}, err
	}
	return lib, func() {}, nil
}
