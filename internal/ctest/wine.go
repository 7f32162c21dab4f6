package ctest

import "runtime"

// UnderWine reports whether the process is a Windows program running under Wine (whose
// ntdll exports wine_get_version); false on every other system.
func UnderWine() bool { return runtime.GOOS == "windows" && underWine() }
