package cli

import "fmt"

// exceptionNames are the NTSTATUS codes a process that died of an unhandled exception
// exits with. A fault in a plugin DLL's C code is not Go's to handle: the Go runtime
// prints nothing and Windows ends the process with the exception's code as its status.
var exceptionNames = map[uint32]string{
	0xC0000005: "EXCEPTION_ACCESS_VIOLATION",
	0xC000001D: "EXCEPTION_ILLEGAL_INSTRUCTION",
	0xC0000025: "EXCEPTION_NONCONTINUABLE_EXCEPTION",
	0xC000008C: "EXCEPTION_ARRAY_BOUNDS_EXCEEDED",
	0xC0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO",
	0xC0000095: "EXCEPTION_INT_OVERFLOW",
	0xC00000FD: "EXCEPTION_STACK_OVERFLOW",
	0xC0000374: "STATUS_HEAP_CORRUPTION",
	0xC0000409: "STATUS_STACK_BUFFER_OVERRUN (fail fast, abort)",
	0x80000003: "EXCEPTION_BREAKPOINT",
}

// exceptionName names the exception that ended a process on Windows (what a signal is on
// Unix) from its exit code: its name and NTSTATUS code.
func exceptionName(exitCode int) (string, bool) {
	code := uint32(exitCode)
	if name, ok := exceptionNames[code]; ok {
		return fmt.Sprintf("%s (0x%08X)", name, code), true
	}
	return "", false
}
