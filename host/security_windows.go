//go:build windows

package host

import "os"

// checkNotWritableByOthers does nothing on Windows, where write access is governed by
// ACLs rather than mode bits: keep plugin directories writable by administrators only.
func checkNotWritableByOthers(string) error { return nil }

// fdPath: Windows has no path for an open handle; the library is opened by name after
// its hash was checked.
func fdPath(*os.File) (string, bool) { return "", false }
