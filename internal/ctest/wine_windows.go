//go:build windows && wine

// This file is test scaffolding for running the Windows test binaries under Wine (make
// test-windows builds them with -tags wine -ldflags=-checklinkname=0); normal builds,
// on Windows or elsewhere, do not contain it.

package ctest

import _ "unsafe" // go:linkname

// deleteatFallback is the standard library's switch that makes os.RemoveAll delete files
// the pre-Windows-10 way (FileDispositionInfo instead of FileDispositionInformationEx with
// POSIX semantics).
//
//go:linkname deleteatFallback internal/syscall/windows.TestDeleteatFallback
var deleteatFallback bool

// Wine 8.0 answers FileDispositionInformationEx with STATUS_NOT_IMPLEMENTED, which Go
// (1.24+) does not take for "unsupported": every os.RemoveAll, and so every t.TempDir
// cleanup, fails with "Invalid function". Under Wine only, this test scaffolding makes
// the tests take the fallback Go itself uses on older Windows.
func init() {
	if UnderWine() {
		deleteatFallback = true
	}
}
