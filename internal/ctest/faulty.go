package ctest

import (
	"runtime"
	"testing"
)

// Fault is one way the faulty test plugin (testdata/plugins/faulty.c) fails at its chosen
// height on its first run, and the cause an isolated plugin's restart reports for it.
type Fault struct {
	Name  string // the plugin's "fault" config key
	Cause string // Counters.RestartCause, with call_timeout "1s"
	CXX   bool   // needs the C++ build (an escaped exception)
}

// Faults are the faults the isolation tests inject.
var Faults = []Fault{
	{"segv", "signal SIGSEGV", false},
	{"abort", "signal SIGABRT", false},
	{"throw", "signal SIGABRT", true},
	{"exit", "exit status 3", false},
	{"hang", "no answer in 1s", false},
}

// FaultyPlugin compiles testdata/plugins/faulty.c; with cxx, linked with faulty_throw.cpp
// so that a C++ exception can escape. The crash tests read causes as POSIX signals and
// children from /proc: on Windows the test is skipped.
func FaultyPlugin(t testing.TB, cxx bool) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the faulty plugin's crash tests run on Linux")
	}
	if !cxx {
		return Plugin(t, "faulty", "testdata/plugins/faulty.c")
	}
	obj := CXXObject(t, "testdata/plugins/faulty_throw.cpp")
	return Plugin(t, "faulty_cxx", "testdata/plugins/faulty.c", "-DFAULTY_CXX", obj, "-Wl,--no-as-needed", "-lstdc++")
}
