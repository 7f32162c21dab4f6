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
	return childPipes(v, "file descriptors", func(p string) (uintptr, bool) {
		fd, err := strconv.Atoi(p)
		if err != nil || fd < 3 {
			return 0, false
		}
		syscall.CloseOnExec(fd)
		return uintptr(fd), true
	})
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
