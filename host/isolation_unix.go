//go:build unix

package host

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// passFiles makes the child inherit files (as fds 3, 4, …) and returns the value of
// childEnv that names them.
func passFiles(cmd *exec.Cmd, files ...*os.File) string {
	cmd.ExtraFiles = files
	fds := make([]string, len(files))
	for i := range files {
		fds[i] = strconv.Itoa(3 + i)
	}
	return strings.Join(fds, ",")
}

// childFiles opens the pipe ends childEnv names (read, write), close-on-exec so that
// processes the plugin starts do not hold them.
func childFiles(v string) (in, out *os.File, err error) {
	var fds [2]int
	parts := strings.Split(v, ",")
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%s=%q: want two file descriptors", childEnv, v)
	}
	for i, p := range parts {
		if fds[i], err = strconv.Atoi(p); err != nil || fds[i] < 3 {
			return nil, nil, fmt.Errorf("%s=%q: want two file descriptors", childEnv, v)
		}
		syscall.CloseOnExec(fds[i])
	}
	return os.NewFile(uintptr(fds[0]), "node-to-child"), os.NewFile(uintptr(fds[1]), "child-to-node"), nil
}

// exitCause says how a child ended: "signal SIGSEGV", "exit status 3".
func exitCause(st *os.ProcessState) string {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := unix.SignalName(ws.Signal())
		if name == "" {
			name = strconv.Itoa(int(ws.Signal()))
		}
		return "signal " + name
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}
