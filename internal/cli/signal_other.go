//go:build !windows

package cli

// exceptionName names the exception a process exit code stands for on Windows; elsewhere
// a crash is a signal (host.ChildError.Signal), and no exit code names one.
func exceptionName(int) (string, bool) { return "", false }
