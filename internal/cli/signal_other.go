//go:build !unix && !windows

package cli

import "os"

// signalOf reports the signal that ended a process; there are none on this system (a
// crash shows as an exit status, and in the Go runtime's report).
func signalOf(*os.ProcessState) (string, bool) { return "", false }
